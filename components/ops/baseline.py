from kfp.dsl import HTML, Dataset, Input, Metrics, Output

from components.ops.support import component


@component
def baseline_op(
    config_json: str,
    tracking_uri: str,
    parent_run_id: str,
    splits: Input[Dataset],
    metrics: Output[Metrics],
    report: Output[HTML],
):
    from pathlib import Path

    from components.ops.support import stage
    from components.stages.baseline import baseline_stage

    with stage("baseline", config_json, tracking_uri, parent_run_id) as config:
        flat = baseline_stage(config, Path(splits.path), Path(report.path))
    for name, value in flat.items():
        metrics.log_metric(name, value)
