"""Durable locations: a local folder, or object storage named by URL (``s3://bucket/prefix``).

A pipeline step in a pod keeps nothing on its own disk, so what must outlive it (training
checkpoints, exported bentos) goes to a location like these, through fsspec. S3 credentials
and endpoint come from the usual AWS settings (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``...).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from components.errors import ModpipeError

MIRROR_SECONDS = 2.0  # how often a mirrored folder's changed files are uploaded


def is_remote(location: str) -> bool:
    return "://" in str(location) and not str(location).startswith("file://")


def join(location: str, *parts: str) -> str:
    return "/".join([str(location).rstrip("/"), *parts])


def _filesystem(url: str):
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as err:
        raise ModpipeError(f"{url}: unsupported storage location ({err})") from None


def _storage_error(url: str, err: Exception) -> ModpipeError:
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ModpipeError(f"object storage {url}: {reason}")


def _upload(path: Path, url: str) -> None:
    fs, remote = _filesystem(url)
    try:
        fs.put_file(str(path), remote)
    except Exception as err:  # botocore, aiohttp and OS errors: one line naming the store
        raise _storage_error(url, err) from None


def _download(url: str, path: Path) -> None:
    """Copy ``url`` to a local file, if there is one at ``url``."""
    fs, remote = _filesystem(url)
    try:
        if fs.exists(remote):
            fs.get_file(remote, str(path))
    except Exception as err:
        raise _storage_error(url, err) from None


def _changed_files(folder: Path, seen: dict[str, float]) -> list[Path]:
    changed = []
    for path in folder.iterdir():
        if path.is_file() and not path.name.endswith(".partial"):
            stamp = path.stat().st_mtime_ns
            if seen.get(path.name) != stamp:
                seen[path.name] = stamp
                changed.append(path)
    return changed


@contextmanager
def mirrored_folder(location: str, names: tuple[str, ...]) -> Iterator[Path]:
    """A local folder that mirrors ``location``: its files ``names`` are downloaded first, and
    files written into it are uploaded every few seconds and on exit. A local ``location`` is
    simply that folder."""
    if not is_remote(location):
        Path(location).mkdir(parents=True, exist_ok=True)
        yield Path(location)
        return
    folder = Path(tempfile.mkdtemp(prefix="modpipe-mirror-"))
    for name in names:
        _download(join(location, name), folder / name)
    seen: dict[str, float] = {}
    _changed_files(folder, seen)  # what was downloaded is already there
    stop = threading.Event()

    def sync() -> None:
        for path in _changed_files(folder, seen):
            _upload(path, join(location, path.name))

    def keep_syncing() -> None:
        while not stop.wait(MIRROR_SECONDS):
            try:
                sync()
            except ModpipeError as err:  # a store that is briefly away: try again, and on exit
                print(f"warning: {err}", file=sys.stderr)

    worker = threading.Thread(target=keep_syncing, name="checkpoint-mirror", daemon=True)
    worker.start()
    try:
        yield folder
    finally:
        stop.set()
        worker.join()
        sync()
        shutil.rmtree(folder, ignore_errors=True)


def absolute(location: str) -> str:
    """A local location as an absolute path (steps may run in another working directory)."""
    return location if is_remote(location) else os.path.abspath(os.path.expanduser(location))
