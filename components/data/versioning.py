"""Dataset versions through DVC: publish a dataset safely, pull it, and name its version.

Publishing never destroys the dataset already in the target folder: inside a DVC repo the old
content is put in the DVC cache first (restore it with ``git checkout <rev> -- DIR.dvc`` then
``dvc checkout DIR.dvc``); outside one it is moved aside to ``DIR.previous-N``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from components.data.canonical import DatasetCard, write_dataset
from components.errors import ModpipeError


@dataclass(frozen=True)
class Publication:
    directory: Path
    md5: str | None  # DVC's directory hash, None outside a DVC repo
    previous_md5: str | None  # the version this one replaced, kept in the DVC cache
    backup: Path | None  # where the replaced folder went, outside a DVC repo


def find_dvc_repo(path: Path) -> Path | None:
    """The DVC repo root that contains ``path``, if any."""
    path = Path(path).resolve()
    for folder in [path, *path.parents]:
        if (folder / ".dvc").is_dir():
            return folder
    return None


def run_dvc(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True, text=True
    )
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise ModpipeError(f"dvc {' '.join(args)} failed: {' '.join(message[-3:])}")
    return result.stdout


def directory_md5(directory: Path) -> str:
    """DVC 3's hash of a folder, computed without touching the repo: the md5 of the sorted
    JSON list of its files' md5s, plus ".dir"."""
    directory = Path(directory)
    entries = [
        {
            "md5": hashlib.md5(path.read_bytes()).hexdigest(),
            "relpath": path.relative_to(directory).as_posix(),
        }
        for path in sorted(p for p in directory.rglob("*") if p.is_file())
    ]
    listing = json.dumps(sorted(entries, key=lambda e: e["relpath"]), sort_keys=True)
    return hashlib.md5(listing.encode("utf-8")).hexdigest() + ".dir"


def dvc_file(directory: Path) -> Path:
    directory = Path(directory).resolve()
    return directory.parent / f"{directory.name}.dvc"


def recorded_md5(directory: Path) -> str | None:
    """The md5 that ``DIR.dvc`` records for the folder, if it is tracked."""
    path = dvc_file(directory)
    if not path.is_file():
        return None
    outs = yaml.safe_load(path.read_text()).get("outs") or [{}]
    return outs[0].get("md5")


def track(directory: Path) -> str:
    """``dvc add`` the folder (content goes to the DVC cache) and return its md5."""
    directory = Path(directory).resolve()
    repo = find_dvc_repo(directory)
    run_dvc("add", str(directory.relative_to(repo)), cwd=repo)
    return recorded_md5(directory)


def _free_backup_path(directory: Path) -> Path:
    number = 1
    while (backup := directory.with_name(f"{directory.name}.previous-{number}")).exists():
        number += 1
    return backup


def publish_dataset(card: DatasetCard, frame: pd.DataFrame, directory: Path) -> Publication:
    """Write a dataset to ``directory`` as its new version, keeping the old one recoverable."""
    directory = Path(directory).resolve()
    repo = find_dvc_repo(directory)
    if repo == directory:
        raise ModpipeError(f"{directory} is the repo itself; write the dataset to a folder in it")
    holds_data = directory.is_dir() and any(directory.iterdir())
    previous_md5 = backup = None
    if holds_data and repo is not None:
        previous_md5 = track(directory)
    elif holds_data:
        backup = _free_backup_path(directory)
        directory.rename(backup)
    staging = directory.with_name(f".{directory.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    write_dataset(staging, card, frame)
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)
    md5 = track(directory) if repo is not None else None
    return Publication(directory, md5, previous_md5 if previous_md5 != md5 else None, backup)


def pull_dataset(directory: Path, regenerate) -> str:
    """Fetch the tracked folder from the DVC remote; if the remote lacks it, ``regenerate(dir)``
    must rebuild exactly the recorded bytes, which are then pushed. Returns what was done."""
    directory = Path(directory).resolve()
    repo = find_dvc_repo(directory)
    expected = recorded_md5(directory)
    if repo is None or expected is None:
        raise ModpipeError(f"{directory} is not tracked by DVC (no {dvc_file(directory).name})")
    target = str(dvc_file(directory).relative_to(repo))
    try:
        run_dvc("pull", target, cwd=repo)
        return f"pulled {directory.name} (md5 {expected}) from the DVC remote"
    except ModpipeError:
        pass  # the remote lacks it (a fresh remote): rebuild it below
    staging = directory.with_name(f".{directory.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    regenerate(staging)
    if directory_md5(staging) != expected:
        shutil.rmtree(staging)
        raise ModpipeError(
            f"the DVC remote lacks {directory.name} (md5 {expected}) and it is not the synthetic "
            "corpus, so it cannot be rebuilt here: push it from a machine that has it"
        )
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)
    run_dvc("commit", "--force", target, cwd=repo)
    run_dvc("push", target, cwd=repo)
    return f"the DVC remote lacked {directory.name}: regenerated it (md5 {expected}) and pushed it"
