"""Convert the Japanese Vowels data (UCI) from sktime's bundled .ts files into the
long format nncli reads with ``--group utterance --order t``.

Source: the ``sktime`` wheel (version 1.2.0, BSD-3-Clause) ships
``sktime/datasets/data/JapaneseVowels/JapaneseVowels_{TRAIN,TEST}.ts``, the UCI
Japanese Vowels data set (M. Kudo, J. Toyama, M. Shimbo, "Multidimensional curve
classification using passing-through regions", Pattern Recognition Letters 20, 1999;
https://doi.org/10.24432/C5NS47, CC BY 4.0). Nine male speakers said the vowels "ae";
each utterance is 7 to 29 frames of 12 LPC cepstrum coefficients; the class is the
speaker. Values are copied unchanged.

    pip download sktime==1.2.0 --no-deps -d /tmp/skt
    cd /tmp/skt && unzip -q sktime-1.2.0-py3-none-any.whl 'sktime/datasets/data/JapaneseVowels/*'
    cd - && python sample_data/make_japanese_vowels.py /tmp/skt/sktime/datasets/data/JapaneseVowels
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

COEFFICIENTS = [f"c{i}" for i in range(1, 13)]


def convert(ts_file: Path, out: Path, first_id: int) -> int:
    """Write one CSV row per frame; returns the next utterance number."""
    lines = ts_file.read_text().splitlines()
    data = lines[[line.strip().lower() for line in lines].index("@data") + 1 :]
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["utterance", "t", *COEFFICIENTS, "speaker"])
        for k, line in enumerate(s for s in data if s.strip()):
            *dims, label = line.split(":")
            series = [d.split(",") for d in dims]
            for t in range(len(series[0])):
                writer.writerow([f"u{first_id + k:03d}", t, *(d[t] for d in series), label])
    return first_id + k + 1


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    here = Path(__file__).parent
    n = convert(folder / "JapaneseVowels_TRAIN.ts", here / "japanese_vowels_train.csv", 0)
    convert(folder / "JapaneseVowels_TEST.ts", here / "japanese_vowels_test.csv", n)
    print(f"wrote {here}/japanese_vowels_{{train,test}}.csv")  # noqa: T201
