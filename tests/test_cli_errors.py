"""Bad inputs: each gets one `Error:` line, a `Hint:` line and a documented exit code."""

from __future__ import annotations

import re

import pytest

GOOD = "a,b,label\n1,x,p\n2,y,q\n3,x,p\n4,y,q\n"

# (file content, extra args, exit code, Error line fragment, Hint line fragment)
CASES = [
    ("empty", b"", [], 1, "is empty", "header row and data rows"),
    ("whitespace only", b"\n\n  \n", [], 1, "is empty", "header row"),
    ("header only", b"a,b,label\n", [], 1, "has a header but no data rows", "at least a few rows"),
    (
        "ragged rows",
        b"a,b,label\n1,2,p\n3,4\n5,6,q\n",
        [],
        1,
        "ragged rows in",
        "check the delimiter (read as ','",
    ),
    (
        "wrong delimiter",
        b"a;b;label\n1;2;p\n3;4;q\n",
        ["--sep", ","],
        1,
        "has only one column ('a;b;label') when split on ','",
        "pass --sep",
    ),
    (
        "latin-1 bytes",
        "a,b,label\n1,caf\u00e9,p\n2,na\u00efve,q\n".encode("latin-1"),
        [],
        1,
        "is not valid UTF-8 text",
        "--encoding latin-1",
    ),
    (
        "duplicate column names",
        b"a,b,a,label\n1,2,3,p\n4,5,6,q\n",
        [],
        1,
        "duplicate column name 'a' (columns 1 and 3)",
        "unique name",
    ),
    (
        "missing target",
        GOOD.encode(),
        ["--target", "lable"],
        1,
        "target column 'lable' not found",
        "did you mean 'label'?",
    ),
    (
        "one-class target",
        b"a,label\n1,p\n2,p\n3,p\n",
        [],
        1,
        "target column 'label' has only one class ('p')",
        "at least two classes",
    ),
    (
        "class with one row",
        b"a,label\n1,p\n2,p\n3,q\n",
        [],
        1,
        "class 'q' of target 'label' has only 1 row",
        "at least 2 rows",
    ),
    (
        "continuous target",
        "a,label\n" + "".join(f"{i},{i * 1.37:.2f}\n" for i in range(200)),
        [],
        1,
        "has 200 distinct numeric values; it looks continuous",
        "bin this one",
    ),
    (
        "two target candidates",
        b"a,label,class\n1,p,q\n2,q,p\n",
        [],
        1,
        "several columns could be the target (label, class)",
        "pass --target NAME",
    ),
    (
        "bad --sep",
        GOOD.encode(),
        ["--sep", "ab"],
        2,
        "--sep must be a single character, got 'ab'",
        "--sep tab",
    ),
    (
        "unknown encoding",
        GOOD.encode(),
        ["--encoding", "klingon"],
        2,
        "unknown encoding 'klingon'",
        "latin-1",
    ),
    (
        "misspelt --drop",
        GOOD.encode(),
        ["--drop", "bb"],
        1,
        "column 'bb' given to --id-col/--weight/--drop not found",
        "did you mean 'b'?",
    ),
    (
        "column in two parts",
        GOOD.encode(),
        ["--drop", "a", "--id-col", "a"],
        2,
        "column 'a' is given more than one part",
        "at most one",
    ),
    (
        "gz extension, plain text",
        GOOD.encode(),
        [],
        1,
        "has the extension .gz but its contents are not in that format",
        "rename",
    ),
]


@pytest.mark.parametrize("name,content,args,code,error,hint", CASES, ids=[c[0] for c in CASES])
def test_bad_input(invoke, write_csv, name, content, args, code, error, hint):
    filename = "data.csv.gz" if "gz extension" in name else "data.csv"
    path = write_csv(content, filename)
    result = invoke(["inspect", path, *args], exit_code=code)
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("Error: ") and error in lines[0], lines[0]
    assert lines[1].startswith("Hint: ") and hint in lines[1], lines[1]
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_missing_file_suggests_close_name(invoke, write_csv):
    path = write_csv(GOOD, "train.csv")
    result = invoke(["inspect", path.with_name("trian.csv")], exit_code=1)
    assert result.stderr.splitlines() == [
        f"Error: file not found: {path.with_name('trian.csv')}",
        "Hint: did you mean 'train.csv'?",
    ]


def test_latin1_reads_with_encoding_option(invoke, write_csv):
    path = write_csv(
        "a,b,label\n1,caf\u00e9,p\n2,na\u00efve,q\n3,caf\u00e9,p\n4,x,q\n".encode("latin-1")
    )
    out = invoke(["inspect", path, "--encoding", "latin-1"]).stdout
    assert "café" in out


def test_numbers_with_stray_strings_are_numeric_with_a_finding(invoke, write_csv):
    rows = (
        ["x,label"] + [f"{i}.5,{'p' if i % 2 else 'q'}" for i in range(40)] + ["oops,p", "n/a?,q"]
    )
    out = invoke(["inspect", write_csv("\n".join(rows) + "\n")]).stdout
    assert re.search(r"^x +│ numeric ", out, re.M)
    assert "'x' is numeric but has 2 non-numeric value(s) (n/a?, oops), read as missing" in out


def test_all_missing_column_is_reported_not_fatal(invoke, write_csv):
    out = invoke(["inspect", write_csv("a,b,label\n1,,p\n2,,q\n3,,p\n4,,q\n")]).stdout
    assert re.search(r"^b +│ empty ", out, re.M)
    assert "'b' is ignored: all values are missing" in out


def test_unexpected_usage_is_exit_2(invoke):
    result = invoke(["inspect"], exit_code=2)
    assert "Error: missing argument 'DATA'" in result.stderr  # DATA, or --sample files
    assert "Hint: pass one data file, or one --sample CLASS=PATH per file" in result.stderr
