"""MLflow tracking: where runs are stored, the pipeline's parent run and one nested run a stage.

Stages run as separate processes (KFP's local runner or cluster pods), so nothing is shared
in memory: the CLI opens a *parent run*, then hands its id and the tracking URI to every
stage, which opens its own run nested under it with :func:`stage_run`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import LifecycleStage, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT
from sqlalchemy.exc import SQLAlchemyError

from components.data.canonical import REPO_ROOT
from components.errors import ModpipeError

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"  # relative to the working directory
DEFAULT_EXPERIMENT = "moderation-pipeline"
ARTIFACTS_FOLDER = "mlartifacts"  # beside a local store, as `mlflow server` does
STAGE_TAG = "stage"
_LOCAL_SCHEMES = ("sqlite", "file", "")


def tracking_uri() -> str:
    """The tracking URI to use: ``$MLFLOW_TRACKING_URI`` if set, else ./mlflow.db."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def _local_store_path(uri: str) -> Path | None:
    """The file (sqlite) or folder (file store) of a local store; None for a server."""
    parsed = urlparse(uri)
    if parsed.scheme not in _LOCAL_SCHEMES or uri == "databricks":
        return None
    if parsed.scheme == "sqlite":
        # sqlite:///relative.db -> "/relative.db"; sqlite:////abs.db -> "//abs.db"
        return Path(parsed.path[1:]) if parsed.path.startswith("/") else Path(parsed.path)
    return Path(parsed.path if parsed.scheme == "file" else uri)


def is_local_store(uri: str) -> bool:
    """A SQLite file or a local folder: pods on a cluster cannot share it."""
    return _local_store_path(uri) is not None


def _absolute_uri(uri: str) -> str:
    """Local stores with absolute paths, so a stage started elsewhere finds the same store."""
    path = _local_store_path(uri)
    if path is None:
        return uri
    path = path.expanduser().absolute()
    return f"sqlite:///{path}" if uri.startswith("sqlite:") else path.as_uri()


def _check_store_location(uri: str) -> None:
    path = _local_store_path(uri)
    if path is None:
        return
    folder = path.parent  # MLflow creates the database file or store folder, not its parent
    if not folder.is_dir():
        raise ModpipeError(f"MLflow tracking store {uri}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ModpipeError(f"MLflow tracking store {uri}: the folder {folder} is not writable")


def _artifact_location(uri: str) -> str | None:
    path = _local_store_path(uri)
    return (path.parent / ARTIFACTS_FOLDER).as_uri() if path is not None else None


def _connect(uri: str | None) -> str:
    uri = _absolute_uri(uri or tracking_uri())
    _check_store_location(uri)
    mlflow.set_tracking_uri(uri)  # also exported as MLFLOW_TRACKING_URI to child processes
    return uri


def _experiment_id(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, artifact_location=artifact_location)
    if experiment.lifecycle_stage == LifecycleStage.DELETED:
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def setup_tracking(uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT) -> str:
    """Point MLflow at ``uri`` (default :func:`tracking_uri`) and select ``experiment``.

    A new experiment in a local store keeps its artifacts in ./mlartifacts beside the store,
    by absolute path. Returns the absolute URI; a store that cannot be reached or created
    raises ModpipeError with MLflow's reason.
    """
    uri = _connect(uri)
    try:
        experiment_id = _experiment_id(MlflowClient(), experiment, _artifact_location(uri))
        mlflow.set_experiment(experiment_id=experiment_id)
    except MlflowException as err:
        raise ModpipeError(f"MLflow tracking store {uri}: {err.message.strip()}") from None
    except SQLAlchemyError as err:  # e.g. the sqlite file is not a database
        reason = str(getattr(err, "orig", None) or err).splitlines()[0]
        raise ModpipeError(f"MLflow tracking store {uri}: {reason}") from None
    return uri


def git_commit() -> str | None:
    """The commit the code was checked out at; None outside a git work tree or without git."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _source_tags() -> dict[str, str]:
    commit = git_commit()
    return {MLFLOW_GIT_COMMIT: commit} if commit else {}


def flatten(config: dict) -> dict:
    """``{"train": {"epochs": 3}}`` -> ``{"train.epochs": 3}``, the shape of MLflow params."""
    return pd.json_normalize(config, sep=".").iloc[0].to_dict() if config else {}


def create_parent_run(
    experiment: str, config: dict, params: dict, run_name: str, tags: dict | None = None
) -> str:
    """Open the pipeline's parent run in ``experiment`` (after :func:`setup_tracking`).

    Logs the flattened config and ``params`` as run params, the config as ``config.json`` and
    the code's git commit. The run is not this process's active run: it stays RUNNING until
    :func:`end_parent_run`, whichever process (the exit handler's pod) calls it.
    """
    client = MlflowClient()
    run_id = None
    try:
        experiment_id = client.get_experiment_by_name(experiment).experiment_id
        run = client.create_run(
            experiment_id, run_name=run_name, tags={**_source_tags(), **(tags or {})}
        )
        run_id = run.info.run_id
        everything = {**flatten(config), **params}
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in everything.items()])
        client.log_dict(run_id, config, "config.json")
    except MlflowException as err:
        if run_id:  # e.g. a param too long for the store: the run must not stay RUNNING
            end_parent_run(run_id, succeeded=False, error=err.message)
        raise ModpipeError(f"MLflow: cannot start the pipeline run: {err.message}") from None
    return run_id


ERROR_TAG = "pipeline.error"


def note_failure(run_id: str, error: str) -> None:
    """The cause of a failed pipeline, on its run; the first cause noted stays."""
    client = MlflowClient()
    if ERROR_TAG not in client.get_run(run_id).data.tags:
        client.set_tag(run_id, ERROR_TAG, error[:5000])


def end_parent_run(
    run_id: str, succeeded: bool, error: str = "", interrupted: bool = False
) -> None:
    """Close the parent run as FINISHED, or FAILED (KILLED when interrupted) with the cause as
    a tag."""
    client = MlflowClient()
    if error:
        note_failure(run_id, error)
    if succeeded:
        status = RunStatus.FINISHED
    else:
        status = RunStatus.KILLED if interrupted else RunStatus.FAILED
    client.set_terminated(run_id, RunStatus.to_string(status))


def _parent_experiment_id(parent_run_id: str) -> str:
    try:
        return MlflowClient().get_run(parent_run_id).info.experiment_id
    except MlflowException as err:
        raise ModpipeError(
            f"MLflow parent run {parent_run_id} not found at {mlflow.get_tracking_uri()}: "
            f"{err.message}"
        ) from None


@contextmanager
def stage_run(
    stage: str, parent_run_id: str | None, tracking_uri: str | None
) -> Iterator[mlflow.ActiveRun]:
    """A run for one pipeline stage, nested under the parent run (in the parent's experiment).

    Without a parent it is a top-level run in the default experiment. An exception inside
    the block marks the run FAILED and propagates.
    """
    if parent_run_id is None:
        setup_tracking(tracking_uri)
        experiment_id = None
    else:
        _connect(tracking_uri)
        experiment_id = _parent_experiment_id(parent_run_id)
    tags = {STAGE_TAG: stage, **_source_tags()}
    with mlflow.start_run(
        run_name=stage,
        experiment_id=experiment_id,
        parent_run_id=parent_run_id,
        nested=True,
        tags=tags,
    ) as run:
        yield run
