from kfp.dsl import Dataset, Input, Model, Output

from components.ops.support import component


@component
def train_op(
    config_json: str,
    tracking_uri: str,
    parent_run_id: str,
    splits: Input[Dataset],
    model: Output[Model],
):
    from pathlib import Path

    from components.ops.support import stage
    from components.stages.train import train_stage

    with stage("train", config_json, tracking_uri, parent_run_id) as config:
        result = train_stage(config, Path(splits.path), Path(model.path))
    model.metadata.update(
        {**splits.metadata, "base_model": config.train.base_model, "best_epoch": result.best_epoch}
    )
