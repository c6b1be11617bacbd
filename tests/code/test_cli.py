"""The `modpipe data` commands as a user runs them: real processes, exit codes and messages."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.data.canonical import read_dataset, write_dataset

MODPIPE = [sys.executable, "-m", "workflows.cli"]


def modpipe(*args, cwd=None):
    return subprocess.run([*MODPIPE, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def assert_clean_failure(result, *phrases):
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    for phrase in phrases:
        assert phrase in result.stderr + result.stdout


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD_IMPORTS = {
    "missing file": ("csv", lambda d: d / "nope.csv", [], "no such file"),
    "directory": ("csv", lambda d: d, [], "directory"),
    "empty file": ("csv", lambda d: write_bytes(d / "e.csv", b""), [], "empty"),
    "invalid utf-8": (
        "jsonl",
        lambda d: write_bytes(d / "b.jsonl", b'{"text": "ok", "spam": 1}\n{"text": "\xff\xfe"}\n'),
        ["--label", "spam=spam"],
        "line 2",
    ),
    "malformed json line": (
        "jsonl",
        lambda d: write_bytes(d / "m.jsonl", b'{"text": "ok", "spam": 1}\n{"text": \n'),
        ["--label", "spam=spam"],
        "line 2",
    ),
    "missing named column": (
        "csv",
        lambda d: write_bytes(d / "c.csv", b"body,spam\nhello,1\n"),
        ["--label", "spam=spam"],
        "text",
    ),
    "unknown label value": (
        "csv",
        lambda d: write_bytes(d / "u.csv", b"text,spam\nhello,1\nworld,maybe\n"),
        ["--label", "spam=spam"],
        "maybe",
    ),
    "duplicate ids": (
        "csv",
        lambda d: write_bytes(d / "i.csv", b"uid,text,spam\na,hello,1\na,world,0\n"),
        ["--label", "spam=spam", "--id-column", "uid"],
        "duplicate",
    ),
    "unknown format": ("parquet", lambda d: write_bytes(d / "x.csv", b"text\nhi\n"), [], "format"),
    "bad label flag": (
        "csv",
        lambda d: write_bytes(d / "f.csv", b"text,spam\nhi,1\n"),
        ["--label", "spam"],
        "CATEGORY=COLUMN",
    ),
}


@pytest.mark.parametrize("case", list(BAD_IMPORTS))
def test_bad_import_is_a_clear_error_and_writes_nothing(case, tmp_path):
    fmt, make_source, flags, phrase = BAD_IMPORTS[case]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    source = make_source(inputs)
    result = modpipe("data", "import", "--format", fmt, source, "-o", tmp_path / "out", *flags)
    assert_clean_failure(result, "error", phrase)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "make_folder, phrase",
    [
        (lambda d: d / "absent", "no such dataset folder"),
        (lambda d: d, "no dataset.yaml"),
    ],
)
def test_validate_without_a_dataset_is_a_clear_error(make_folder, phrase, tmp_path):
    result = modpipe("data", "validate", make_folder(tmp_path), "--reports", tmp_path / "r")
    assert_clean_failure(result, phrase)


def test_validate_an_empty_dataset_is_a_clear_error(tmp_path):
    shutil.copy(Path(__file__).parents[2] / "configs" / "taxonomy.yaml", tmp_path / "t.yaml")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "dataset.yaml").write_text(
        "name: empty\nsource: test\ncategories:\n  - name: spam\n    description: Ads.\n"
    )
    (tmp_path / "d" / "rows.jsonl").write_text("")
    result = modpipe("data", "validate", tmp_path / "d", "--reports", tmp_path / "r")
    assert_clean_failure(result, "no rows")


def test_import_jsonl_then_validate(tmp_path):
    rows = [{"text": f"message number {i}", "spam": i % 2} for i in range(60)]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows))
    imported = modpipe(
        "data", "import", "-f", "jsonl", source, "-o", tmp_path / "d", "--label", "spam=spam"
    )
    assert imported.returncode == 0, imported.stderr
    card, frame = read_dataset(tmp_path / "d")
    assert card.names == ["spam"] and len(frame) == 60
    validated = modpipe("data", "validate", tmp_path / "d", "--reports", tmp_path / "r")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert (tmp_path / "r" / "validation.json").is_file()


@pytest.mark.slow
def test_davidson_import_and_validate_pass(davidson_csv, tmp_path):
    imported = modpipe("data", "import", "--format", "davidson", davidson_csv, "-o", tmp_path / "d")
    assert imported.returncode == 0, imported.stderr
    validated = modpipe("data", "validate", tmp_path / "d", "--reports", tmp_path / "r")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "24783" in validated.stdout.replace(",", "")


@pytest.mark.slow
def test_validate_names_empty_texts_and_unknown_label(davidson_csv, tmp_path):
    assert (
        modpipe("data", "import", "-f", "davidson", davidson_csv, "-o", tmp_path / "d").returncode
        == 0
    )
    card, frame = read_dataset(tmp_path / "d")
    frame.loc[frame.index[:50], "text"] = ""
    frame["label_hate"] = frame["label_hate"].astype(object)
    frame.loc[frame.index[100], "label_hate"] = 7
    write_dataset(tmp_path / "broken", card, frame.astype({"label_hate": object}))
    result = modpipe("data", "validate", tmp_path / "broken", "--reports", tmp_path / "r")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "text" in result.stdout and "50" in result.stdout
    assert "label_hate" in result.stdout
