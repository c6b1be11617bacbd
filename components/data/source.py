"""Where a run's dataset comes from: a DVC repository at a git revision, or the local workspace.

A pipeline step in a pod has no checkout, so on a cluster the dataset is named by repository
URL + rev + path and read with DVC's own filesystem (git for the ``.dvc`` file, the repo's DVC
remote, e.g. object storage, for the content). On one machine the workspace folder is the
embedded default: pulled from the remote, or the seed corpus rebuilt, when it is missing.

The version (DVC's md5 of the folder) travels with the data to every later stage and to MLflow.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from components.config import DataConfig
from components.data.canonical import read_dataset, write_dataset
from components.data.versioning import directory_md5, find_dvc_repo, pull_dataset
from components.errors import ModpipeError


def _cause(err: Exception) -> str:
    """The telling line under DVC's wrappers: the storage client's error if there is one (an
    unreachable endpoint, missing credentials), else the innermost."""
    chain = [err]
    while (inner := chain[-1].__cause__ or chain[-1].__context__) is not None:
        chain.append(inner)
    chosen = next((e for e in chain if type(e).__module__.startswith("botocore")), chain[-1])
    text = str(chosen).strip().splitlines()
    return f"{type(chosen).__name__}: {text[0]}" if text else type(chosen).__name__


def fetch_from_repo(url: str, rev: str | None, path: str, output_dir: Path) -> None:
    """Materialise ``path`` as DVC recorded it in repo ``url`` at ``rev`` (None: its default
    branch, or the work tree of a local repo), reading the content from the repo's remote."""
    from dvc.api import DVCFileSystem

    where = f"{path!r} in {url} at rev {rev or 'HEAD'!r}"
    try:
        fs = DVCFileSystem(url, rev=rev or None)
        fs.repo  # noqa: B018  (opens it now: a remote repo is cloned lazily, its rev resolved)
    except Exception as err:  # git, DVC and network failures all end the run the same way
        raise ModpipeError(
            f"cannot open the dataset repo {url} at rev {rev!r}: {_cause(err)}"
        ) from None
    if not fs.exists(path):
        raise ModpipeError(f"no dataset {where}: that path does not exist there")
    try:
        fs.get(path, str(output_dir), recursive=True)
    except Exception as err:
        shutil.rmtree(output_dir, ignore_errors=True)
        raise ModpipeError(f"cannot fetch the dataset {where}: {_cause(err)}") from None


def fetch_from_workspace(directory: Path, output_dir: Path) -> None:
    """Copy a workspace folder, pulling (or, for the seed corpus, regenerating) it if missing."""
    from components.data.synth import write_synthetic_dataset

    if not (directory / "dataset.yaml").is_file():
        pull_dataset(directory, regenerate=write_synthetic_dataset)
    shutil.copytree(directory, output_dir)


def fetch_dataset(config: DataConfig, output_dir: Path) -> dict:
    """Copy the configured dataset version to ``output_dir``; returns its name, md5 and rows."""
    output_dir = Path(output_dir)
    shutil.rmtree(output_dir, ignore_errors=True)
    if config.repo:
        fetch_from_repo(config.repo, config.rev, str(config.directory), output_dir)
    elif config.rev:  # the workspace's own repo, as committed at a revision
        directory = Path(config.directory).resolve()
        repo = find_dvc_repo(directory)
        if repo is None:
            raise ModpipeError(f"data.rev needs {directory} inside a DVC repo")
        fetch_from_repo(str(repo), config.rev, directory.relative_to(repo).as_posix(), output_dir)
    else:
        fetch_from_workspace(Path(config.directory), output_dir)
    md5 = directory_md5(output_dir)  # the version of the full dataset, before any sampling
    card, frame = read_dataset(output_dir)
    if config.max_rows and len(frame) > config.max_rows:
        frame = frame.sample(n=config.max_rows, random_state=0).sort_index()
        write_dataset(output_dir, card, frame)
    return {"name": card.name, "md5": md5, "rows": len(frame), "synthetic": card.synthetic}
