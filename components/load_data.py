"""Load stage: the DVC-versioned dataset, from the workspace or as recorded at a git revision.

Its version (DVC's md5 of the folder) travels with the data to every later stage and to MLflow.
"""

import shutil
from pathlib import Path

from kfp.dsl import Dataset, Output

from components.canonical import read_dataset, write_dataset
from components.config import DataConfig
from components.errors import ModpipeError
from components.kfp_support import component
from components.versioning import directory_md5, find_dvc_repo, pull_dataset


def _fetch_at_revision(directory: Path, rev: str, output_dir: Path) -> None:
    """Materialise the folder as DVC recorded it at ``rev`` (from the cache or the remote)."""
    from dvc.api import DVCFileSystem
    from dvc.exceptions import DvcException
    from scmrepo.exceptions import SCMError

    repo = find_dvc_repo(directory)
    if repo is None:
        raise ModpipeError(f"data.rev needs {directory} inside a DVC repo")
    try:
        fs = DVCFileSystem(str(repo), rev=rev)
        fs.get(directory.resolve().relative_to(repo).as_posix(), str(output_dir), recursive=True)
    except (DvcException, SCMError, FileNotFoundError) as err:
        raise ModpipeError(f"cannot load {directory.name} at git rev {rev!r}: {err}") from None


def ensure_workspace_data(directory: Path) -> None:
    """Pull (or, for the seed corpus, regenerate) a tracked folder the workspace lacks."""
    from components.synth import write_synthetic_dataset

    if not (directory / "dataset.yaml").is_file():
        pull_dataset(directory, regenerate=write_synthetic_dataset)


def load_data(config: DataConfig, output_dir: Path) -> dict:
    """Copy the configured dataset version to ``output_dir``; returns its name, md5 and rows."""
    directory, output_dir = Path(config.directory), Path(output_dir)
    shutil.rmtree(output_dir, ignore_errors=True)
    if config.rev:
        _fetch_at_revision(directory, config.rev, output_dir)
    else:
        ensure_workspace_data(directory)
        shutil.copytree(directory, output_dir)
    md5 = directory_md5(output_dir)  # the version of the full dataset, before any sampling
    card, frame = read_dataset(output_dir)
    if config.max_rows and len(frame) > config.max_rows:
        frame = frame.sample(n=config.max_rows, random_state=0).sort_index()
        write_dataset(output_dir, card, frame)
    return {"name": card.name, "md5": md5, "rows": len(frame), "synthetic": card.synthetic}


@component
def load_data_op(
    config_json: str, tracking_uri: str, parent_run_id: str, dataset: Output[Dataset]
) -> str:
    """Returns the dataset version (DVC md5)."""
    from pathlib import Path

    import mlflow

    from components.kfp_support import stage
    from components.load_data import load_data

    with stage("load_data", config_json, tracking_uri, parent_run_id) as config:
        info = load_data(config.data, Path(dataset.path))
        mlflow.log_params({f"dataset.{key}": value for key, value in info.items()})
        if parent_run_id:
            mlflow.MlflowClient().log_param(parent_run_id, "dataset.md5", info["md5"])
    dataset.metadata.update(info)
    return info["md5"]
