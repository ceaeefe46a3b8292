"""The reader: delimiters, encodings, compression, Parquet, stdin, quoting, missing markers."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- numeric files through pandas' C engine (_plain_numeric / _read_plain) ----------------


def _both_ways(path, monkeypatch, options: ReadOptions | None = None):
    """The frame as read (pandas' C engine where the file is plain numbers) and as pyarrow
    alone reads it, and whether the C engine's frame was the one kept."""
    import nncli.io.data as data

    kept = []
    real = data._read_plain

    def spy(*args):
        frame = real(*args)
        kept.append(frame is not None)
        return frame

    with monkeypatch.context() as m:
        m.setattr(data, "_read_plain", spy)
        fast = read_table(path, options)
    with monkeypatch.context() as m:
        m.setattr(data, "_plain_numeric", lambda *a: False)
        slow = read_table(path, options)
    return fast, slow, kept == [True]


NUMBERS = "a,b,c\n1,2.5,-3e-2\n4,NA,.5\n7,?,+1E3\n10,8.25,\n"


def test_a_numeric_file_is_read_by_the_c_engine_exactly_as_pyarrow_reads_it(write_csv, monkeypatch):
    fast, slow, plain = _both_ways(write_csv(NUMBERS), monkeypatch)
    assert plain
    pd.testing.assert_frame_equal(fast.frame, slow.frame, check_exact=True)
    assert fast.frame["a"].dtype == "int64" and fast.frame["b"].dtype == "float64"
    assert fast.frame["b"].isna().tolist() == [False, True, True, False]
    assert (fast.sep, fast.encoding, fast.n_bytes) == (slow.sep, slow.encoding, slow.n_bytes)
    assert fast.sha256 == slow.sha256
    assert (fast.parser, slow.parser) == ("pandas", "pyarrow")


def test_extra_na_values_and_semicolons_on_the_c_engine(write_csv, monkeypatch):
    path = write_csv(NUMBERS.replace(",", ";").replace("8.25", "-999"))
    options = ReadOptions(na_values=("-999",))
    fast, slow, plain = _both_ways(path, monkeypatch, options)
    assert plain and fast.frame["b"].isna().sum() == 3
    pd.testing.assert_frame_equal(fast.frame, slow.frame, check_exact=True)


@pytest.mark.parametrize(
    "tail,column,dtype",
    [
        ("7,x,1\n", "b", "str"),  # text after the sniffed bytes: pyarrow reads the file again
        ('7,"8",1\n', "b", "float64"),  # a quote after them: the C engine reads it as pyarrow
        ("true,1.5,2\n", "a", "str"),
    ],
)
def test_a_file_that_stops_being_plain_after_the_sample(
    write_csv, monkeypatch, tail, column, dtype
):
    body = "".join(f"{i},{i / 4},{-i}\n" for i in range(10_000))  # > 64 KB
    path = write_csv("a,b,c\n" + body + tail)
    fast, slow, plain = _both_ways(path, monkeypatch)
    assert plain == (dtype != "str")
    pd.testing.assert_frame_equal(fast.frame, slow.frame, check_exact=True)
    assert str(fast.frame[column].dtype) == dtype


@pytest.mark.parametrize("row,fields", [("1,2,3", 3), ("7", 1)])
@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_a_ragged_numeric_file_gets_pyarrows_error(write_csv, row, fields, suffix):
    """A long row fails pandas' parse; a short one it would fill with missing values, so
    a frame with a missing value in its last column has its delimiters counted, and
    pyarrow reads a file whose count does not match."""
    body = "".join(f"{i},{i / 4}\n" for i in range(10_000))  # past the sniffed bytes
    content = ("a,b\n" + body + row + "\n" + body).encode()
    path = write_csv(gzip.compress(content) if suffix.endswith("gz") else content, "d" + suffix)
    with pytest.raises(DataError, match=f"ragged rows .* a row has {fields} field"):
        read_table(path)


@pytest.mark.parametrize(
    "content",
    [
        "a;b\n1,5;2\n3,5;4\n5,5;6\n",  # decimal commas: pyarrow's decimal_point
        "\ufeffa,b\n1,2\n3,4\n5,6\n",  # a byte-order mark
        'a,b\n"1",2\n3,4\n5,6\n',  # quoted in the sample
        "a,b\n1,2\n3,4\n",  # too few rows to judge
        "a,b\n1,2\n3, 4\n5,6\n",  # a space pyarrow would not read as a number
        "a,b,c\n1,,2\n3,NA,4\n5,,6\n",  # a column of missing values only: pyarrow's nulls
    ],
)
def test_files_that_are_not_plain_stay_with_pyarrow(write_csv, monkeypatch, content):
    fast, slow, plain = _both_ways(write_csv(content), monkeypatch)
    assert not plain
    pd.testing.assert_frame_equal(fast.frame, slow.frame, check_exact=True)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=3, max_size=3),
        min_size=2,
        max_size=40,
    ),  # fmt: skip
    st.sampled_from(["repr", "%.6g", "%.17g", "%e"]),
)
def test_floats_are_parsed_to_the_same_bits_by_both_engines(tmp_path_factory, rows, style):
    """Correct rounding on both sides: every float written in any common format reads back
    to the same float64 bits through pandas' C engine and through pyarrow."""
    import numpy as np

    import nncli.io.data as data

    text = "a,b,c\n" + "".join(
        ",".join(repr(v) if style == "repr" else style % v for v in row) + "\n" for row in rows
    )
    path = tmp_path_factory.mktemp("floats") / "f.csv"
    path.write_text(text)
    plan = data._plan_csv(path.read_bytes()[: data.SNIFF_BYTES], str(path), ReadOptions())
    fast = data._read_plain(path, plan, ReadOptions())
    import pyarrow.csv as pacsv

    slow = pacsv.read_csv(path).to_pandas()
    assert fast is not None
    for col in "abc":
        a, b = fast[col].to_numpy(np.float64), slow[col].to_numpy(np.float64)
        assert (a.view(np.int64) == b.view(np.int64)).all()
