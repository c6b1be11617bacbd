"""The pipeline's own MLflow run: opened by its first step, closed by its exit handler.

A run started from the Kubeflow Pipelines UI has no CLI around it, so the pipeline opens the
parent run itself (or adopts the one ``modpipe run`` passes) and tags it with the KFP job, by
which the exit handler, which may not take other tasks' outputs, finds it again and marks it
FINISHED or FAILED.
"""

from __future__ import annotations

import os

from mlflow import MlflowClient

from components.config import PipelineConfig
from components.errors import ModpipeError
from components.registry.tracking import (
    create_parent_run,
    end_parent_run,
    is_local_store,
    setup_tracking,
)

JOB_TAG = "kfp.pipeline_job"


def on_cluster() -> bool:
    """Whether this process runs in a Kubernetes pod."""
    return "KUBERNETES_SERVICE_HOST" in os.environ


def check_tracking_uri(uri: str, submitting: bool = False) -> None:
    """A cluster's pods cannot share a SQLite file or a local folder: refuse one there."""
    if not uri and (submitting or on_cluster()):
        raise ModpipeError(
            "tracking_uri is empty: set it to an MLflow tracking server the pods can reach"
        )
    if uri and is_local_store(uri) and (submitting or on_cluster()):
        raise ModpipeError(
            f"cluster pods cannot reach the local MLflow store {uri}: set tracking_uri "
            "(or MLFLOW_TRACKING_URI) to a tracking server they can reach"
        )


def open_pipeline_run(
    config: PipelineConfig, tracking_uri: str, parent_run_id: str, pipeline_job: str
) -> str:
    """The parent run's id: ``parent_run_id`` adopted, or a new run tagged with the job."""
    check_tracking_uri(tracking_uri)
    setup_tracking(tracking_uri or None, config.registry.experiment)
    client = MlflowClient()
    if parent_run_id:
        try:
            client.get_run(parent_run_id)
        except Exception as err:  # MlflowException or a connection error: one line either way
            raise ModpipeError(f"MLflow parent run {parent_run_id}: {err}") from None
        client.set_tag(parent_run_id, JOB_TAG, pipeline_job)
        return parent_run_id
    params = {"base_model": config.train.base_model, "data.rev": config.data.rev or "workspace"}
    return create_parent_run(
        config.registry.experiment,
        config.model_dump(mode="json"),
        params,
        run_name=config.name,
        tags={JOB_TAG: pipeline_job},
    )


def _find_job_run(pipeline_job: str) -> str | None:
    runs = MlflowClient().search_runs(
        [e.experiment_id for e in MlflowClient().search_experiments()],
        filter_string=f"tags.`{JOB_TAG}` = '{pipeline_job}'",
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def _failed_stages(run_id: str) -> list[str]:
    client = MlflowClient()
    children = client.search_runs(
        [client.get_run(run_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{run_id}' and attributes.status = 'FAILED'",
    )
    return sorted({run.data.tags.get("stage", run.info.run_name) for run in children})


def close_pipeline_run(
    tracking_uri: str, parent_run_id: str, pipeline_job: str, succeeded: bool, error: str
) -> str | None:
    """Mark the pipeline's run FINISHED or FAILED; its id, or None when none was opened.

    A failed stage that said why has already noted its cause on the run; otherwise (a crash,
    a killed pod) the cause names the failed stages, as KFP's own message does not.
    """
    setup_tracking(tracking_uri or None)
    run_id = parent_run_id or _find_job_run(pipeline_job)
    if run_id:
        if not succeeded and (failed := _failed_stages(run_id)):
            error = f"the {', '.join(failed)} step failed (its MLflow run has the details)"
        end_parent_run(run_id, succeeded, error)
    return run_id
