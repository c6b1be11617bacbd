from kfp.dsl import Dataset, Input, Model

from components.ops.support import component


@component
def package_op(
    config_json: str,
    tracking_uri: str,
    parent_run_id: str,
    model: Input[Model],
    splits: Input[Dataset],
    model_version: str,
    dataset_version: str,
) -> str:
    """Returns the URI of the exported bento."""
    from pathlib import Path

    from components.ops.support import stage
    from components.stages.package import package_stage

    with stage("package", config_json, tracking_uri, parent_run_id) as config:
        bento = package_stage(
            config,
            Path(model.path),
            Path(splits.path),
            model_version,
            dataset_version,
            parent_run_id,
        )
    return bento["uri"]


@component
def keep_champion_op(config_json: str, tracking_uri: str, parent_run_id: str) -> str:
    """The gate did not pass: returns the champion's bento URI, which stays served."""
    from components.ops.support import stage
    from components.stages.package import keep_champion_stage

    with stage("keep_champion", config_json, tracking_uri, parent_run_id) as config:
        kept = keep_champion_stage(config, parent_run_id)
    return kept["uri"] if kept else ""
