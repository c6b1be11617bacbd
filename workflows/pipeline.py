"""The moderation training pipeline as a KFP v2 DAG.

load -> validate -> split -> train -> evaluate -+-> register & gate -> package
                          \\-> baseline ---------/

Every task gets the run config (JSON), the MLflow tracking URI and the parent run's id.
"""

from kfp import dsl

from components.baseline import baseline_op
from components.config import PipelineConfig
from components.evaluate import evaluate_op
from components.load_data import load_data_op
from components.package import package_op
from components.register import register_op
from components.split import split_op
from components.train import train_op
from components.validate import validate_op

PIPELINE_NAME = "moderation-training"


def request_training_resources(task: dsl.PipelineTask, config: PipelineConfig) -> None:
    """What the training pod asks of the cluster; the local runner ignores it."""
    resources = config.resources
    task.set_memory_request(resources.memory).set_memory_limit(resources.memory)
    task.set_cpu_request(resources.cpu).set_cpu_limit(resources.cpu)
    if resources.gpus:
        task.set_accelerator_type(resources.gpu_type).set_accelerator_limit(resources.gpus)


def build_pipeline(config: PipelineConfig):
    """The pipeline function for this config (resource requests are fixed at compile time)."""

    @dsl.pipeline(name=PIPELINE_NAME, description="Versioned data to a registered, packaged model")
    def moderation_pipeline(
        config_json: str, tracking_uri: str = "", parent_run_id: str = ""
    ) -> str:
        common = {
            "config_json": config_json,
            "tracking_uri": tracking_uri,
            "parent_run_id": parent_run_id,
        }
        load = load_data_op(**common).set_display_name("load data")
        validate = validate_op(dataset=load.outputs["dataset"], **common).set_display_name(
            "validate"
        )
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
        package = package_op(
            model=evaluate.outputs["evaluated_model"],
            model_version=register.outputs["Output"],
            dataset_version=load.outputs["Output"],
            **common,
        ).set_display_name("package bento")
        return package.output

    return moderation_pipeline
