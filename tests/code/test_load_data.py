"""Fetching a dataset: the workspace version, or the version DVC recorded at a git revision."""

import subprocess
import sys

from components.config import DataConfig
from components.data.source import fetch_dataset
from components.data.versioning import directory_md5, publish_dataset


def run(*command, cwd):
    subprocess.run(
        [*command],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.org",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org",
            "PATH": "/usr/bin:/bin",
        },
    )


def test_load_from_workspace_and_from_a_git_revision(tmp_path, make_dataset):
    repo = tmp_path / "repo"
    repo.mkdir()
    run("git", "init", "-q", cwd=repo)
    run(sys.executable, "-m", "dvc", "init", "-q", cwd=repo)
    first = publish_dataset(*make_dataset(["one", "two", "three"]), repo / "data")
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-q", "-m", "v1", cwd=repo)
    second = publish_dataset(*make_dataset(["four", "five", "six", "seven"]), repo / "data")

    now = fetch_dataset(DataConfig(directory=repo / "data"), tmp_path / "now")
    assert (now["md5"], now["rows"]) == (second.md5, 4)
    then = fetch_dataset(DataConfig(directory=repo / "data", rev="HEAD"), tmp_path / "then")
    assert (then["md5"], then["rows"]) == (first.md5, 3)
    assert directory_md5(tmp_path / "then") == first.md5


def test_max_rows_samples_deterministically_but_keeps_the_full_version(tmp_path, make_dataset):
    publish_dataset(*make_dataset([f"text {i}" for i in range(50)]), tmp_path / "d")
    a = fetch_dataset(DataConfig(directory=tmp_path / "d", max_rows=10), tmp_path / "a")
    fetch_dataset(DataConfig(directory=tmp_path / "d", max_rows=10), tmp_path / "b")
    assert a["rows"] == 10 and a["md5"] == directory_md5(tmp_path / "d")
    assert (tmp_path / "a" / "rows.jsonl").read_bytes() == (
        tmp_path / "b" / "rows.jsonl"
    ).read_bytes()
