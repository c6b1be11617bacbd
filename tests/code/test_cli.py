"""The `modpipe data` commands as a user runs them: real processes, exit codes and messages."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from itertools import count
from pathlib import Path

import pytest
from repos import git, make_dvc_repo

from components.data.canonical import read_dataset, write_dataset
from components.data.versioning import directory_md5, publish_dataset, recorded_md5

MODPIPE = [sys.executable, "-m", "workflows.cli"]
CUT = [sys.executable, str(Path(__file__).resolve().parents[1] / "interrupts.py")]


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


def spam_csv(path: Path, *texts: str) -> Path:
    return write_bytes(
        path, ("text,spam\n" + "".join(f"{t},{i % 2}\n" for i, t in enumerate(texts))).encode()
    )


def import_args(source: Path, output: Path, *flags) -> list[str]:
    args = ["data", "import", "-f", "csv", source, "-o", output, "--label", "spam=spam", *flags]
    return list(map(str, args))


def import_csv(source: Path, output: Path, *flags, cwd=None):
    return modpipe(*import_args(source, output, *flags), cwd=cwd)


def one_line_error(result, phrase: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert phrase in result.stderr


BAD_PATHS = {
    "taxonomy is a folder": (lambda d: d / "out", lambda d: ["--taxonomy", d], "is a directory"),
    "output is a file": (lambda d: write_bytes(d / "file", b"x"), lambda d: [], "a file is there"),
    "output in a file": (
        lambda d: write_bytes(d / "file", b"x") / "out",
        lambda d: [],
        "is a file",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PATHS))
def test_a_bad_path_is_a_one_line_error_and_leaves_nothing(case, tmp_path):
    make_output, make_flags, phrase = BAD_PATHS[case]
    source = spam_csv(tmp_path / "in.csv", "hello", "world")
    output, flags = make_output(tmp_path), make_flags(tmp_path)
    before = sorted(tmp_path.iterdir())
    one_line_error(import_csv(source, output, *flags), phrase)
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_source_is_a_one_line_error(tmp_path):
    source = spam_csv(tmp_path / "in.csv", "hello", "world")
    source.chmod(0)
    one_line_error(import_csv(source, tmp_path / "out"), "cannot be read")
    assert not (tmp_path / "out").exists()


def test_ctrl_c_during_an_import_says_which_version_the_folder_holds(tmp_path, make_dataset):
    source = spam_csv(tmp_path / "in.csv", "new", "texts", "here")
    output, previous = tmp_path / "d", make_dataset(["old", "texts"])
    told = set()
    for at in count(1):
        publish_dataset(*previous, output)  # each cut starts from the same previous version
        cut = [*CUT, str(at), "interrupt", "--modpipe", *import_args(source, output)]
        result = subprocess.run(cut, capture_output=True, text=True)
        if result.returncode == 0:
            break
        assert result.returncode == 130 and "Traceback" not in result.stderr, result.stderr
        (line,) = result.stderr.strip().splitlines()
        holds_new = read_dataset(output)[1]["text"].tolist() == ["new", "texts", "here"]
        expected = "holds the new version (" if holds_new else "still holds the previous version"
        assert line.startswith(f"interrupted: {output} {expected}"), line
        told.add(holds_new)
    assert told == {False, True}


def test_the_restore_hint_brings_back_exactly_the_version_it_names(tmp_path):
    repo = make_dvc_repo(tmp_path)
    versions = [spam_csv(tmp_path / f"v{i}.csv", f"version {i}", "text") for i in range(3)]
    assert import_csv(versions[0], "data", cwd=repo).returncode == 0
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "first version", cwd=repo)
    second = import_csv(versions[1], "data", cwd=repo)
    second_md5 = directory_md5(repo / "data")
    third = import_csv(versions[2], "data", cwd=repo)  # neither import is committed
    assert second.returncode == third.returncode == 0

    hint = re.search(r"'(modpipe data restore .+?)' brings it back", third.stdout).group(1)
    assert hint.endswith(second_md5)
    restored = modpipe(*shlex.split(hint)[1:], cwd=repo)
    assert restored.returncode == 0, restored.stderr
    assert directory_md5(repo / "data") == recorded_md5(repo / "data") == second_md5
    assert read_dataset(repo / "data")[1]["text"].tolist() == ["version 1", "text"]


@pytest.mark.parametrize(
    "md5, in_dvc, phrase",
    [
        ("0" * 32, True, "not (wholly) in the DVC cache"),
        ("HEAD", True, "not a DVC folder version"),
        ("0" * 32, False, "not in a DVC repo"),
    ],
)
def test_restore_of_a_version_it_cannot_have_is_a_one_line_error(
    md5, in_dvc, phrase, tmp_path, make_dataset
):
    root = make_dvc_repo(tmp_path) if in_dvc else tmp_path
    publish_dataset(*make_dataset(["kept", "as is"]), root / "data")
    before = sorted(root.iterdir()), directory_md5(root / "data")
    one_line_error(modpipe("data", "restore", root / "data", md5), phrase)
    assert (sorted(root.iterdir()), directory_md5(root / "data")) == before
