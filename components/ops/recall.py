"""The recall pipeline's steps: thin wrappers around components.stages.recall."""

from typing import List  # noqa: UP035  (KFP reads typing.List, not list, as a list type)

from kfp.dsl import HTML, Dataset, Input, Metrics, Model, Output

from components.ops.support import component


@component
def prepare_pool_op(
    config_json: str,
    tracking_uri: str,
    parent_run_id: str,
    pool: str,
    budget: int,
    shards: Output[Dataset],
) -> List[str]:  # noqa: UP006
    """The pool checked whole and cut into shards; returns the shards' names."""
    from pathlib import Path

    from components.ops.support import stage
    from components.stages.recall import prepare_stage

    with stage("prepare pool", config_json, tracking_uri, parent_run_id) as config:
        return prepare_stage(config, Path(pool), budget, Path(shards.path))


@component
def fetch_model_op(
    config_json: str, tracking_uri: str, parent_run_id: str, reference: str, model: Output[Model]
):
    """The model to scan with (an MLflow URI, a bento tag or a folder) as this run's artifact."""
    import shutil
    import tempfile
    from pathlib import Path

    from components.ops.support import stage
    from components.registry.scoring import model_folder

    with stage("fetch model", config_json, tracking_uri, parent_run_id):
        with tempfile.TemporaryDirectory(prefix="modpipe-model-") as download:
            shutil.copytree(model_folder(reference, Path(download)), model.path)
        model.metadata["reference"] = reference


@component
def scan_op(
    config_json: str,
    tracking_uri: str,
    parent_run_id: str,
    model: Input[Model],
    shards: Input[Dataset],
    shard: str,
    scanned: Output[Dataset],
):
    """One shard through the recall channels (one task, or pod, per shard)."""
    from pathlib import Path

    from components.ops.support import stage
    from components.stages.recall import scan_stage

    with stage(f"scan {shard}", config_json, tracking_uri, parent_run_id) as config:
        rows = scan_stage(config, Path(model.path), Path(shards.path) / shard, Path(scanned.path))
    scanned.metadata["rows"] = rows


@component
def queue_op(
    config_json: str,
    tracking_uri: str,
    parent_run_id: str,
    model: Input[Model],
    scanned: Input[List[Dataset]],  # noqa: UP006
    budget: int,
    queue: Output[Dataset],
    report: Output[HTML],
    metrics: Output[Metrics],
):
    """The scanned shards fused, folded and ranked into the review queue."""
    import shutil
    from pathlib import Path

    from components.ops.support import stage
    from components.stages.recall import REPORT_FILE, queue_stage

    with stage("queue", config_json, tracking_uri, parent_run_id) as config:
        folders = [Path(part.path) for part in scanned]
        figures = queue_stage(config, Path(model.path), folders, budget, Path(queue.path))
    shutil.copyfile(Path(queue.path) / REPORT_FILE, report.path)
    for name, value in figures.items():
        metrics.log_metric(name, value)


@component
def mine_op(
    config_json: str,
    tracking_uri: str,
    parent_run_id: str,
    model: Input[Model],
    shards: Input[Dataset],
    annotation_batch: Output[Dataset],
):
    """The pool's next annotation batch, chosen by the bandit over the mining strategies."""
    from pathlib import Path

    from components.ops.support import stage
    from components.stages.mine import mine_stage

    with stage("mine", config_json, tracking_uri, parent_run_id) as config:
        picked = mine_stage(
            config, Path(model.path), Path(shards.path), Path(annotation_batch.path)
        )
    annotation_batch.metadata["items"] = picked
