from kfp.dsl import Dataset, Input, Output

from components.ops.support import component


@component
def split_op(
    config_json: str,
    tracking_uri: str,
    parent_run_id: str,
    dataset: Input[Dataset],
    splits: Output[Dataset],
):
    from pathlib import Path

    from components.ops.support import stage
    from components.stages.split import split_stage

    with stage("split", config_json, tracking_uri, parent_run_id) as config:
        counts = split_stage(config, Path(dataset.path), Path(splits.path))
    splits.metadata.update({**dataset.metadata, **counts})
