"""Throwaway git + DVC repositories for the tests, with the real git and DVC."""

import subprocess
import sys
from pathlib import Path


def dvc(*args, cwd):
    subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, check=True, capture_output=True)


def git(*args, cwd):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def make_dvc_repo(root: Path) -> Path:
    """A git repo with DVC initialised and a local-folder remote beside it."""
    repo = root / "repo"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    dvc("init", "-q", cwd=repo)
    dvc("remote", "add", "-d", "store", str(root / "remote"), cwd=repo)
    return repo
