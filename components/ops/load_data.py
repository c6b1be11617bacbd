from kfp.dsl import Dataset, Output

from components.ops.support import component


@component
def load_data_op(
    config_json: str, tracking_uri: str, parent_run_id: str, dataset: Output[Dataset]
) -> str:
    """The dataset version (or mixture) from DVC; returns its version."""
    from pathlib import Path

    from components.ops.support import stage
    from components.stages.load_data import load_data_stage

    with stage("load_data", config_json, tracking_uri, parent_run_id) as config:
        info = load_data_stage(config, Path(dataset.path), parent_run_id)
    dataset.metadata.update(info)
    return info["version"]
