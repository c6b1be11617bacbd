"""Dataset versions through DVC: publish a dataset safely, restore or pull one, name its version.

Publishing replaces the folder DIR so that an interrupt at any moment (Ctrl-C, a kill, a crash)
leaves DIR holding one whole version, the old or the new, and loses neither:

1. the new version is written to ``.DIR.staging``, which is never data (the next run deletes
   it), then renamed ``.DIR.swap-MD5`` once complete (MD5: its DVC hash);
2. inside a DVC repo, the old version goes to the DVC cache (``dvc add --no-relink``: it reads
   DIR and leaves its files alone);
3. ``.DIR.swap-MD5`` and DIR trade places in one atomic step (Linux's ``renameat2`` with
   ``RENAME_EXCHANGE``): ``.DIR.swap-MD5`` now holds the old version;
4. the old version is moved to ``DIR.previous-N`` outside DVC, or deleted inside (it is in the
   cache), and ``dvc add`` records the new one in ``DIR.dvc``.

Where the system cannot exchange two folders, step 3 is two renames through ``.DIR.outgoing``,
and a kill between them leaves no DIR until the next run. Every run first repairs what an
interrupted one left: it deletes ``.DIR.staging``, finishes a swap cut short between its two
renames, and disposes of ``.DIR.swap-MD5``: if DIR's hash is MD5 the swap happened and the
folder is the old version (handled as in step 4), else it is a new version that never went in
(deleted). On Ctrl-C that repair runs at once, and :class:`Interrupted` says what DIR holds.

Restoring a version (``modpipe data restore DIR MD5``) is the same replacement, with the version
checked out of the DVC cache as step 1.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from components.data.canonical import DatasetCard, write_dataset
from components.errors import ModpipeError

DVC_DIR_MD5 = re.compile(r"^[0-9a-f]{32}(\.dir)?$")
AT_FDCWD = -100
RENAME_EXCHANGE = 2
EXCHANGE_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP}  # this filesystem or kernel


@dataclass(frozen=True)
class Publication:
    directory: Path
    md5: str | None  # DVC's directory hash, None outside a DVC repo
    previous_md5: str | None  # the version this one replaced, kept in the DVC cache
    backup: Path | None  # where the replaced folder went, outside a DVC repo


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C during a replacement, once repaired: still a KeyboardInterrupt, whose message
    says which version DIR holds."""


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
    # --no-relink: DVC would otherwise rewrite the folder's files from the cache, one by one
    run_dvc("add", "--no-relink", str(directory.relative_to(repo)), cwd=repo)
    return recorded_md5(directory)


def check_target(directory: Path) -> Path:
    """``directory`` resolved, once it is sure a dataset folder can be written there: a clear
    ModpipeError otherwise, before anything is written."""
    directory = Path(directory).resolve()
    if directory.exists() and not directory.is_dir():
        raise ModpipeError(f"{directory}: a file is there, not a dataset folder")
    parent = next(p for p in directory.parents if p.exists())
    if not parent.is_dir():
        raise ModpipeError(f"{directory}: {parent} is a file, so no folder can be made in it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ModpipeError(f"{directory}: {parent} is not writable")
    if find_dvc_repo(directory) == directory:
        raise ModpipeError(f"{directory} is the repo itself; write the dataset to a folder in it")
    return directory


def _sibling(directory: Path, role: str) -> Path:
    """A hidden folder beside ``directory`` that a replacement uses: staging, outgoing, swap-MD5."""
    return directory.with_name(f".{directory.name}.{role}")


def _renameat2():
    if sys.platform != "linux":
        return None
    function = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)  # glibc >= 2.28
    if function is not None:
        dirfd, path = ctypes.c_int, ctypes.c_char_p
        function.argtypes = [dirfd, path, dirfd, path, ctypes.c_uint]
    return function


_RENAMEAT2 = _renameat2()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders' names in one atomic step; False where the system cannot."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in EXCHANGE_UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap_in(ready: Path, directory: Path) -> Path:
    """Put the folder ``ready`` at ``directory``; returns where the old folder is now."""
    if _exchange(ready, directory):
        return ready
    outgoing = _sibling(directory, "outgoing")
    directory.rename(outgoing)
    ready.rename(directory)  # until this, no folder is at `directory`: repair() finishes it
    return outgoing


def _free_backup_path(directory: Path) -> Path:
    number = 1
    while (backup := directory.with_name(f"{directory.name}.previous-{number}")).exists():
        number += 1
    return backup


def _dispose(old: Path, directory: Path, repo: Path | None) -> Path | None:
    """The replaced version: deleted inside a DVC repo (it was put in the cache first), moved
    to ``DIR.previous-N`` outside one. Returns the backup."""
    if repo is not None:
        shutil.rmtree(old)
        return None
    return old.rename(_free_backup_path(directory))


def repair(directory: Path) -> None:
    """Leave ``directory`` holding one whole version and nothing of an interrupted replacement
    beside it (every replacement does this first)."""
    directory = Path(directory).resolve()
    repo = find_dvc_repo(directory)
    staging = _sibling(directory, "staging")
    shutil.rmtree(staging, ignore_errors=True)
    dvc_file(staging).unlink(missing_ok=True)  # a restore's checkout record
    swaps = list(directory.parent.glob(glob.escape(f".{directory.name}.swap-") + "*"))
    outgoing = _sibling(directory, "outgoing")
    if outgoing.exists():  # a two-rename swap cut short: finish it (undo it if it cannot be)
        if not directory.exists():
            (swaps.pop() if swaps else outgoing).rename(directory)
        if outgoing.exists():
            _dispose(outgoing, directory, repo)
    current = directory_md5(directory) if swaps and directory.is_dir() else None
    for swap in swaps:
        if swap.name == _sibling(directory, f"swap-{current}").name:
            _dispose(swap, directory, repo)  # swapped out: the old version
        else:
            shutil.rmtree(swap)  # never swapped in: a replacement cut short


def _holding(directory: Path, new_md5: str | None) -> str:
    """What ``directory`` holds after a repair, for the interrupt's message."""
    if not (directory.is_dir() and any(directory.iterdir())):
        return f"{directory} holds no dataset, as before"
    if new_md5 is None or directory_md5(directory) != new_md5:
        return f"{directory} still holds the previous version"
    state = f"{directory} holds the new version ({new_md5})"
    if find_dvc_repo(directory) and recorded_md5(directory) != new_md5:
        state += f", not yet in {dvc_file(directory).name}: 'dvc add {directory.name}' records it"
    return state


def _replace(directory: Path, fill: Callable[[Path], None]) -> Publication:
    """Make ``directory`` hold what ``fill(folder)`` writes, as the module docstring says."""
    directory = check_target(directory)
    repo = find_dvc_repo(directory)
    repair(directory)
    md5 = None
    try:
        staging = _sibling(directory, "staging")
        fill(staging)
        md5 = directory_md5(staging)
        ready = staging.rename(_sibling(directory, f"swap-{md5}"))
        holds_data = directory.is_dir() and any(directory.iterdir())
        previous_md5 = track(directory) if holds_data and repo else None
        backup = None
        if holds_data:
            backup = _dispose(_swap_in(ready, directory), directory, repo)
        else:
            ready.rename(directory)  # over an empty folder, if one is there
        new_md5 = track(directory) if repo else None
    except BaseException as err:
        repair(directory)
        if isinstance(err, KeyboardInterrupt):
            raise Interrupted(_holding(directory, md5)) from None
        if isinstance(err, OSError):
            raise ModpipeError(f"{directory}: cannot write the dataset ({err})") from None
        raise
    previous = previous_md5 if previous_md5 != new_md5 else None
    return Publication(directory, new_md5, previous, backup)


def publish_dataset(card: DatasetCard, frame: pd.DataFrame, directory: Path) -> Publication:
    """Write a dataset to ``directory`` as its new version, keeping the old one recoverable."""
    return _replace(Path(directory), lambda folder: write_dataset(folder, card, frame))


def restore_dataset(directory: Path, md5: str) -> Publication:
    """Bring back version ``md5`` of ``directory`` from the DVC cache; the version it replaces
    is kept there."""
    directory = check_target(directory)
    repo = find_dvc_repo(directory)
    if repo is None:
        raise ModpipeError(f"{directory} is not in a DVC repo, so it has no cached versions")
    if not DVC_DIR_MD5.match(md5):
        raise ModpipeError(f"{md5!r} is not a DVC folder version (32 hex digits, then .dir)")
    md5 = md5.removesuffix(".dir") + ".dir"

    def checkout(folder: Path) -> None:
        record = dvc_file(folder)
        out = {"md5": md5, "hash": "md5", "path": folder.name}
        record.write_text(yaml.safe_dump({"outs": [out]}))
        try:
            run_dvc("checkout", str(record.relative_to(repo)), cwd=repo)
        except ModpipeError:
            raise ModpipeError(
                f"version {md5} of {directory.name} is not (wholly) in the DVC cache of {repo}; "
                "'dvc fetch' gets what the remote has"
            ) from None
        finally:
            record.unlink()

    return _replace(directory, checkout)


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

    def rebuild(folder: Path) -> None:
        regenerate(folder)
        if directory_md5(folder) != expected:
            raise ModpipeError(
                f"the DVC remote lacks {directory.name} (md5 {expected}) and it is not the "
                "version shipped with the code (the synthetic corpus, the starter term lists), "
                "so it cannot be rebuilt here: push it from a machine that has it"
            )

    _replace(directory, rebuild)
    run_dvc("push", target, cwd=repo)
    return f"the DVC remote lacked {directory.name}: regenerated it (md5 {expected}) and pushed it"
