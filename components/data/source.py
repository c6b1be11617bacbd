"""Where a run's dataset comes from: a DVC repository at a git revision, or the local workspace.

A pipeline step in a pod has no checkout, so on a cluster the dataset is named by repository
URL + rev + path and read with DVC's own filesystem (git for the ``.dvc`` file, the repo's DVC
remote, e.g. object storage, for the content). On one machine the workspace folder is the
embedded default: pulled from the remote, or the seed corpus rebuilt, when it is missing.

A training mixture (``data.sources``) fetches each source the same way (a catalogue dataset the
workspace lacks comes from the catalogue) and merges them (:mod:`components.data.mixture`).

The version (DVC's md5 of the folder; for a mixture, every source's md5 and rev) travels with
the data to every later stage, to MLflow, into the bento and into every answer.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from components.config import DataConfig, SourceConfig
from components.data.canonical import CARD_FILE, ROWS_FILE, read_card, read_dataset, write_dataset
from components.data.catalogue import fetch_entry
from components.data.mixture import LoadedSource, build_mixture, run_taxonomy, version_of
from components.data.versioning import directory_md5, dvc_file, find_dvc_repo, pull_dataset
from components.errors import ModpipeError

SOURCES_DIR = "sources"  # a mixture's sources, each as it entered the mixture


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


def _fetch_folder(repo: str | None, rev: str | None, directory: Path, output_dir: Path) -> None:
    """A dataset folder as DVC recorded it in ``repo`` (or the workspace's repo) at ``rev``, or
    the workspace folder itself when neither is given."""
    if repo:
        fetch_from_repo(repo, rev, str(directory), output_dir)
    elif rev:  # the workspace's own repo, as committed at a revision
        directory = Path(directory).resolve()
        root = find_dvc_repo(directory)
        if root is None:
            raise ModpipeError(f"a rev needs {directory} inside a DVC repo")
        fetch_from_repo(str(root), rev, directory.relative_to(root).as_posix(), output_dir)
    else:
        fetch_from_workspace(Path(directory), output_dir)


def _fetch_source(config: DataConfig, source: SourceConfig, work: Path) -> LoadedSource:
    """One mixture source as it is stored: its folder, or for a catalogue dataset that the
    workspace lacks (never fetched, or in a pod), the catalogue's files imported here."""
    folder, local = work / source.name, _workspace_folder(config, source)
    missing = local and not ((local / CARD_FILE).is_file() or dvc_file(local).is_file())
    if source.catalogue and missing:
        write_dataset(folder, *fetch_entry(source.catalogue))
    else:
        repo, rev = source.repo or config.repo, source.rev or config.rev
        _fetch_folder(repo, rev, Path(source.directory), folder)
    card, frame = read_dataset(folder)
    return LoadedSource(source, card, frame, directory_md5(folder))


def _workspace_folder(config: DataConfig, source: SourceConfig) -> Path | None:
    """The source's folder when it is read from this workspace as it is now."""
    pinned = source.repo or config.repo or source.rev or config.rev
    return None if pinned else Path(source.directory)


def check_mixture(config: DataConfig) -> None:
    """Before a run starts: the category maps and kept categories of every source already in
    the workspace (only cards are read), and that none of them is empty."""
    cards = {}
    for source in config.sources:
        folder = _workspace_folder(config, source)
        if folder is None or not (folder / CARD_FILE).is_file():
            continue  # fetched by the run: checked as it loads
        if not (folder / ROWS_FILE).is_file() or not (folder / ROWS_FILE).stat().st_size:
            raise ModpipeError(f"source {source.name!r}: {folder} has no rows")
        cards[source.name] = read_card(folder)
    if config.sources:
        run_taxonomy(config, cards)


def fetch_mixture(config: DataConfig, output_dir: Path) -> dict:
    """The merged set at ``output_dir``, and each source as it entered the mixture (mapped
    and sampled) in ``output_dir/sources/NAME``, for validation."""
    with tempfile.TemporaryDirectory(prefix="sources-") as work:
        loaded = [_fetch_source(config, source, Path(work)) for source in config.sources]
    mixture = build_mixture(config, loaded)
    for name, (card, frame) in mixture.sources.items():
        write_dataset(output_dir / SOURCES_DIR / name, card, frame)
    write_dataset(output_dir, mixture.card, mixture.frame)
    return {
        "name": mixture.card.name,
        "md5": directory_md5(output_dir),
        "version": version_of(loaded),
        "rows": len(mixture.frame),
        "categories": mixture.card.names,
        "sources": [
            {
                "name": s.config.name,
                "md5": s.md5,
                "rev": s.config.rev,
                **mixture.report[s.config.name],
            }
            for s in loaded
        ],
    }


def fetch_dataset(config: DataConfig, output_dir: Path) -> dict:
    """Copy the configured dataset version (or mixture) to ``output_dir``; returns its name,
    md5, version (the md5, or for a mixture every source's), rows and more."""
    output_dir = Path(output_dir)
    shutil.rmtree(output_dir, ignore_errors=True)
    if config.sources:
        return fetch_mixture(config, output_dir)
    _fetch_folder(config.repo, config.rev, Path(config.directory), output_dir)
    md5 = directory_md5(output_dir)  # the version of the full dataset, before any sampling
    card, frame = read_dataset(output_dir)
    if config.max_rows and len(frame) > config.max_rows:
        frame = frame.sample(n=config.max_rows, random_state=0).sort_index()
        write_dataset(output_dir, card, frame)
    return {
        "name": card.name,
        "md5": md5,
        "version": md5,
        "rows": len(frame),
        "synthetic": card.synthetic,
    }
