from kfp.dsl import HTML, Dataset, Input, Output

from components.ops.support import component


@component
def validate_op(
    config_json: str,
    tracking_uri: str,
    parent_run_id: str,
    dataset: Input[Dataset],
    report: Output[HTML],
):
    """Stops the run (with the report as an artifact) when an expectation fails."""
    from pathlib import Path

    from components.ops.support import stage
    from components.stages.validate import validate_stage

    with stage("validate", config_json, tracking_uri, parent_run_id) as config:
        validate_stage(config, Path(dataset.path), Path(report.path))
