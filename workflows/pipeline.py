"""The moderation training pipeline as a KFP v2 DAG.

open run -> load -> validate -> split -> train -> evaluate -+-> register & gate -> [promoted?]
                                       \\-> baseline -------/                         package
(exit handler: close run, FINISHED or FAILED)

The parameters a person changes in the Pipelines UI are top-level, with the preset's values
as defaults; the first step applies them to the preset (``config_json``) and every later step
gets the resolved config. Resource requests (GPUs) are fixed at compile time.
"""

import inspect

from kfp import dsl

from components.config import UI_PARAMETERS, PipelineConfig, ui_parameters
from components.ops.baseline import baseline_op
from components.ops.evaluate import evaluate_op
from components.ops.load_data import load_data_op
from components.ops.package import keep_champion_op, package_op
from components.ops.register import register_op
from components.ops.run import close_run_op, open_run_op
from components.ops.split import split_op
from components.ops.train import train_op
from components.ops.validate import validate_op

PIPELINE_NAME = "moderation-training"
TRAIN_RETRIES = 2  # a pod that dies (preempted, evicted) is retried and resumes its checkpoint


def request_training_resources(task: dsl.PipelineTask, config: PipelineConfig) -> None:
    """What the training pod asks of the cluster; the local runner ignores it."""
    resources = config.resources
    task.set_memory_request(resources.memory).set_memory_limit(resources.memory)
    task.set_cpu_request(resources.cpu).set_cpu_limit(resources.cpu)
    if resources.gpus:
        task.set_accelerator_type(resources.gpu_type).set_accelerator_limit(resources.gpus)
    task.set_retry(num_retries=TRAIN_RETRIES, backoff_duration="30s")
    if resources.checkpoint_pvc:
        from kfp import kubernetes

        kubernetes.mount_pvc(
            task, pvc_name=resources.checkpoint_pvc, mount_path=resources.checkpoint_mount
        )


def _stages(config: PipelineConfig, common: dict) -> None:
    load = load_data_op(**common).set_display_name("load data")
    validate = validate_op(dataset=load.outputs["dataset"], **common).set_display_name("validate")
    split = split_op(dataset=load.outputs["dataset"], **common).after(validate)
    split.set_display_name("split")
    splits = split.outputs["splits"]
    train = train_op(splits=splits, **common).set_display_name("fine-tune")
    request_training_resources(train, config)
    evaluate = evaluate_op(model=train.outputs["model"], splits=splits, **common)
    evaluate.set_display_name("evaluate")
    baseline = baseline_op(splits=splits, **common).set_display_name("zero/few-shot baseline")
    register = register_op(
        model=evaluate.outputs["evaluated_model"],
        splits=splits,
        baseline_metrics=baseline.outputs["metrics"],
        dataset_version=load.outputs["Output"],
        **common,
    ).set_display_name("register & gate")
    with dsl.If(register.outputs["promoted"] == True, name="gate passed"):  # noqa: E712
        package_op(
            model=evaluate.outputs["evaluated_model"],
            splits=splits,
            model_version=register.outputs["version"],
            dataset_version=load.outputs["Output"],
            **common,
        ).set_display_name("package bento")
    # kfp 2.17's local runner cannot resolve a lone dsl.If's condition; with an Else it can.
    with dsl.Else(name="gate failed"):
        keep_champion_op(**common).set_display_name("keep the champion's bento")


def build_pipeline(config: PipelineConfig, pipeline_root: str | None = None):
    """The pipeline function for this preset: its values are the UI parameters' defaults."""

    def moderation_pipeline(
        config_json: str,
        tracking_uri: str,
        dataset_repo: str,
        dataset_rev: str,
        dataset_path: str,
        base_model: str,
        epochs: int,
        learning_rate: float,
        target_precision: float,
        checkpoints: str,
        bento_store: str,
        parent_run_id: str = "",
    ):
        arguments = dict(locals())
        ui = {name: arguments[name] for name in UI_PARAMETERS}
        job = dsl.PIPELINE_JOB_ID_PLACEHOLDER
        close = close_run_op(
            tracking_uri=tracking_uri, parent_run_id=parent_run_id, pipeline_job=job
        ).set_display_name("close MLflow run")
        with dsl.ExitHandler(close, name="train and register"):
            opened = open_run_op(
                config_json=config_json,
                tracking_uri=tracking_uri,
                parent_run_id=parent_run_id,
                pipeline_job=job,
                **ui,
            ).set_display_name("open MLflow run")
            common = {
                "config_json": opened.outputs["config_json"],
                "tracking_uri": tracking_uri,
                "parent_run_id": opened.outputs["run_id"],
            }
            _stages(config, common)

    # KFP reads parameter defaults from the signature: the preset's own values.
    defaults = {
        "config_json": config.model_dump_json(),
        "tracking_uri": "",
        "parent_run_id": "",
        **ui_parameters(config),
    }
    names = inspect.signature(moderation_pipeline).parameters
    moderation_pipeline.__defaults__ = tuple(defaults[name] for name in names)
    return dsl.pipeline(
        name=PIPELINE_NAME,
        description="Versioned data to a served champion",
        pipeline_root=pipeline_root,
    )(moderation_pipeline)
