"""The reader: delimiters, encodings, compression, Parquet, stdin, quoting, missing markers."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile

import pandas as pd
import pytest

from nncli.errors import DataError
from nncli.io.data import ReadOptions, read_table, sniff_delimiter

CSV = "x,name,label\n1.5,alpha,p\n2.5,beta,q\n,gamma,p\n"


def _check(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == ["x", "name", "label"]
    assert frame["x"].tolist()[:2] == [1.5, 2.5] and pd.isna(frame["x"].iloc[2])
    assert frame["name"].tolist() == ["alpha", "beta", "gamma"]


@pytest.mark.parametrize("delim", [",", "\t", ";", "|"])
def test_delimiter_is_sniffed(write_csv, delim):
    table = read_table(write_csv(CSV.replace(",", delim)))
    assert table.sep == delim
    _check(table.frame)


def test_sniffer_prefers_consistent_widths():
    assert sniff_delimiter('a;b;c\n"1,5";2;3\n"4,5";5;6\n') == ";"
    assert sniff_delimiter("a,b\n1,2\n3,4") == ","


@pytest.mark.parametrize(
    "compress,suffix",
    [
        (gzip.compress, ".csv.gz"),
        (bz2.compress, ".csv.bz2"),
        (lzma.compress, ".csv.xz"),
    ],
)
def test_compressed_files(write_csv, compress, suffix):
    _check(read_table(write_csv(compress(CSV.encode()), "d" + suffix)).frame)


def test_zip_with_one_member(tmp_path):
    path = tmp_path / "d.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("inner.csv", CSV)
    _check(read_table(path).frame)


def test_zip_with_two_members_is_an_error(tmp_path):
    path = tmp_path / "d.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.csv", CSV)
        zf.writestr("b.csv", CSV)
    with pytest.raises(DataError, match="exactly one data file, found 2: a.csv, b.csv"):
        read_table(path)


def test_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    pd.read_csv(pd.io.common.StringIO(CSV)).to_parquet(path)
    table = read_table(path)
    assert table.encoding == "parquet"
    _check(table.frame)


def test_stdin(invoke):
    result = invoke(["inspect", "-", "--json"], input=CSV + "4,delta,q\n")
    assert '"source": "-"' in result.stdout and '"n_rows": 4' in result.stdout


def test_utf8_bom_is_stripped(write_csv):
    table = read_table(write_csv(b"\xef\xbb\xbf" + CSV.encode()))
    _check(table.frame)


def test_utf16_with_bom(write_csv):
    table = read_table(write_csv(CSV.encode("utf-16")))
    assert table.encoding == "utf-16"
    _check(table.frame)


def test_quoted_fields_with_embedded_newlines_and_delimiters(write_csv):
    frame = read_table(write_csv('a,b,label\n"line one\nline two","x, y",p\n2,z,q\n')).frame
    assert frame["a"].iloc[0] == "line one\nline two"
    assert frame["b"].iloc[0] == "x, y"
    assert len(frame) == 2


@pytest.mark.parametrize("token", ["", "NA", "NaN", "null", "?"])
def test_missing_value_markers(write_csv, token):
    frame = read_table(write_csv(f"x,label\n1,p\n{token},q\n3,p\n")).frame
    assert frame["x"].isna().tolist() == [False, True, False]
    assert frame["x"].dtype.kind in "fi"


def test_extra_na_values(write_csv):
    frame = read_table(
        write_csv("x,label\n1,p\n-999,q\n3,p\n"), ReadOptions(na_values=("-999",))
    ).frame
    assert frame["x"].isna().tolist() == [False, True, False]


def test_sep_aliases():
    assert ReadOptions(sep="tab").sep == "\t"
    assert ReadOptions(sep="\\t").sep == "\t"


def test_empty_header_names_are_filled(write_csv):
    table = read_table(write_csv(",x,label\n0,1,p\n1,2,q\n"))
    assert list(table.frame.columns) == ["column_1", "x", "label"]
    assert table.notes == ["column(s) 1 have no name in the header; called column_N (N = position)"]


def test_sha256_identifies_the_bytes(write_csv):
    one = read_table(write_csv(CSV, "a.csv")).sha256
    two = read_table(write_csv(CSV, "b.csv")).sha256
    three = read_table(write_csv(CSV + "9,z,q\n", "c.csv")).sha256
    assert one == two != three


def test_sha256_is_of_the_file_bytes_also_for_a_bom_and_gzip(write_csv):
    import hashlib
    from pathlib import Path

    for data, name in [
        (b"\xef\xbb\xbf" + CSV.encode(), "bom.csv"),
        (gzip.compress(CSV.encode()), "g.csv.gz"),
    ]:
        path = write_csv(data, name)
        table = read_table(path)
        assert table.sha256 == hashlib.sha256(Path(path).read_bytes()).hexdigest()
        assert table.n_bytes == len(gzip.decompress(data) if name.endswith(".gz") else data)
        _check(table.frame)


def test_a_named_pipe_is_read_like_a_file(tmp_path):
    """Process substitution (<(zcat data.csv.gz)) gives a path that cannot be mapped."""
    import os
    import threading

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(CSV))
    writer.start()
    table = read_table(fifo)
    writer.join()
    _check(table.frame)


def test_a_file_of_blank_lines_beyond_the_sniffed_bytes_is_empty(write_csv):
    with pytest.raises(DataError, match="is empty"):
        read_table(write_csv(" \n" * 70_000))
    table = read_table(write_csv("\n" * 70_000 + CSV))  # text after the first 64 KB is found
    assert len(table.frame) == 3
