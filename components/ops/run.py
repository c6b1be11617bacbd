"""The pipeline's first step and its exit handler: open and close the parent MLflow run."""

from typing import NamedTuple

from kfp.dsl import PipelineTaskFinalStatus

from components.ops.support import component


@component
def open_run_op(
    config_json: str,
    tracking_uri: str,
    parent_run_id: str,
    pipeline_job: str,
    dataset_repo: str,
    dataset_rev: str,
    dataset_path: str,
    base_model: str,
    epochs: int,
    learning_rate: float,
    target_precision: float,
    checkpoints: str,
    bento_store: str,
) -> NamedTuple("OpenedRun", [("run_id", str), ("config_json", str)]):
    """The preset with the UI's parameters applied, and the parent run that every stage's run
    nests under (opened here, or the CLI's adopted)."""
    import json
    from collections import namedtuple

    from components.config import UI_PARAMETERS, parse_config, with_ui_parameters
    from components.ops.support import clean_failure
    from components.stages.run import open_pipeline_run

    with clean_failure("open run"):
        arguments = dict(locals())
        ui = {name: arguments[name] for name in UI_PARAMETERS}
        config = with_ui_parameters(parse_config(json.loads(config_json)), ui)
        run_id = open_pipeline_run(config, tracking_uri, parent_run_id, pipeline_job)
    opened = namedtuple("OpenedRun", ["run_id", "config_json"])
    return opened(run_id, config.model_dump_json())


@component
def close_run_op(
    tracking_uri: str, parent_run_id: str, pipeline_job: str, status: PipelineTaskFinalStatus
):
    """Marks the parent run FINISHED, or FAILED with the failing task's error."""
    from components.ops.support import clean_failure
    from components.stages.run import close_pipeline_run

    succeeded = status.state == "SUCCEEDED"
    error = "" if succeeded else f"{status.pipeline_task_name}: {status.error_message}"
    with clean_failure("close run"):
        run_id = close_pipeline_run(tracking_uri, parent_run_id, pipeline_job, succeeded, error)
    print(f"MLflow run {run_id}: {'FINISHED' if succeeded else 'FAILED'}")
