"""Generate sample_data/sequences.csv: variable-length sequences whose class is in the
order of events, which per-group aggregates cannot see.

Each sequence (``seq``) has 10 to 40 readings at increasing times ``t`` of two noisy
channels, ``ecal`` and ``hcal`` (think of two calorimeter layers read out in time).
Somewhere inside it (never first or last) ``ecal`` has one spike and ``hcal`` has one,
2 to 5 readings apart. The class is which came first: ``ecal_first`` or
``hcal_first``. Both classes have the same spikes, lengths and noise, so every
aggregate of a sequence (count, mean, std, min, max, first, last) has the same
distribution in both classes; only the order tells them apart.

Run from the repository root (the output is deterministic for the fixed seed):

    python sample_data/make_sequences.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20261127
N_SEQUENCES = 800
SPIKE = 3.0


def _sequence(rng: np.random.Generator, k: int) -> pd.DataFrame:
    n = int(rng.integers(10, 41))
    gap = int(rng.integers(2, 6))
    first = int(rng.integers(1, n - 1 - gap))
    ecal_first = bool(rng.random() < 0.5)
    ecal, hcal = rng.normal(0.0, 1.0, n), rng.normal(0.0, 1.0, n)
    (ecal if ecal_first else hcal)[first] += SPIKE
    (hcal if ecal_first else ecal)[first + gap] += SPIKE
    t = np.cumsum(rng.exponential(1.0, n))
    return pd.DataFrame({
        "seq": f"s{k:04d}", "t": t.round(3), "ecal": ecal.round(3), "hcal": hcal.round(3),
        "label": "ecal_first" if ecal_first else "hcal_first",
    })  # fmt: skip


def generate(n: int = N_SEQUENCES, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.concat([_sequence(rng, k) for k in range(n)], ignore_index=True)


if __name__ == "__main__":
    out = Path(__file__).with_name("sequences.csv")
    generate().to_csv(out, index=False)
    print(f"wrote {out}")  # noqa: T201
