"""A publication cut short after any of its file operations, by a Ctrl-C or by a kill, with the
real DVC: a whole dataset, the old or the new one, is always in place; the next publication
repairs what the cut left, loses no version and leaves nothing behind."""

import subprocess
import sys
from itertools import count
from pathlib import Path

import pytest
from interrupts import COMPLETED, KILLED, cut_short
from repos import make_dvc_repo

from components.data import versioning
from components.data.canonical import read_dataset, write_dataset
from components.data.versioning import Interrupted, directory_md5, publish_dataset, repair

HARNESS = Path(__file__).resolve().parents[1] / "interrupts.py"
REPO_ROOT = Path(__file__).resolve().parents[2]
FEWEST_CUTS = 6  # a publication makes at least this many operations: the loop really cuts
CASES = [
    # where, how, and whether the system can exchange two folders in one step
    ("plain", "kill", "exchange"),
    ("plain", "kill", "two-renames"),
    ("plain", "interrupt", "exchange"),
    ("plain", "interrupt", "two-renames"),
    ("dvc", "kill", "exchange"),
    ("dvc", "interrupt", "exchange"),
]


def leftovers(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}."))


def versions_kept(target: Path, repo: Path | None) -> set[str]:
    """The versions one can still get back: the folder's, and its backups' or the DVC cache's."""
    if repo is None:
        return {directory_md5(p) for p in target.parent.glob(f"{target.name}*") if p.is_dir()}
    return {p.parent.name + p.name for p in (repo / ".dvc/cache/files/md5").glob("*/*.dir")}


def publish_in_child(source: Path, target: Path, at: int, how: str, exchange: bool):
    flags = [] if exchange else ["--no-exchange"]
    command = [sys.executable, str(HARNESS), str(at), how, str(source), str(target), *flags]
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT)


def publish_in_process(source: Path, target: Path, at: int, how: str, exchange: bool):
    """What the child does, in this process: only a Ctrl-C, as a kill would end the tests."""
    card, frame = read_dataset(source)
    repair(target)
    saved = versioning._RENAMEAT2
    versioning._RENAMEAT2 = saved if exchange else None
    try:
        with cut_short(at, how) as cut:
            publish_dataset(card, frame, target)
    except Interrupted as interrupted:
        return subprocess.CompletedProcess([], 130, str(interrupted), "")
    finally:
        versioning._RENAMEAT2 = saved
    return subprocess.CompletedProcess([], 0, "" if cut.fired else COMPLETED, "")


@pytest.mark.parametrize("where, how, swap", CASES, ids=["-".join(case) for case in CASES])
def test_a_publication_cut_after_any_operation_leaves_a_whole_dataset(
    tmp_path, make_dataset, where, how, swap
):
    repo = make_dvc_repo(tmp_path) if where == "dvc" else None
    target = (repo or tmp_path) / "data"
    publish = publish_in_child if how == "kill" else publish_in_process
    publish_dataset(*make_dataset(["first", "version"]), target)
    seen = {directory_md5(target)}
    for at in count(1):
        # each cut publishes a version of its own over what the last one left
        new = write_dataset(tmp_path / "versions" / str(at), *make_dataset([f"v{at}", "text"]))
        old_md5, new_md5 = directory_md5(target), directory_md5(new)
        result = publish(new, target, at, how, swap == "exchange")
        if result.stdout.strip() == COMPLETED:
            break
        assert result.returncode == (KILLED if how == "kill" else 130), result.stderr
        if not target.exists():  # the one window: between the two renames, if it has to
            assert swap == "two-renames" and how == "kill", f"no dataset after operation {at}"
            assert (target.parent / ".data.outgoing").is_dir()
            repair(target)  # as the next run does first
        assert directory_md5(target) in {old_md5, new_md5}, f"cut after operation {at}"
        if how == "interrupt":  # repaired at once, and told
            assert leftovers(target) == []
            holds_new = directory_md5(target) == new_md5
            assert ("holds the new version" in result.stdout) == holds_new, result.stdout
        seen.add(old_md5)
    assert at > FEWEST_CUTS
    assert directory_md5(target) == new_md5 and leftovers(target) == []
    assert seen <= versions_kept(target, repo)
