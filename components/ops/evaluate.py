from kfp.dsl import HTML, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from components.ops.support import component


@component
def evaluate_op(
    config_json: str,
    tracking_uri: str,
    parent_run_id: str,
    model: Input[Model],
    splits: Input[Dataset],
    evaluated_model: Output[Model],
    metrics: Output[Metrics],
    classification: Output[ClassificationMetrics],
    report: Output[HTML],
):
    from pathlib import Path

    from components.model.metrics import flag_confusion
    from components.ops.support import stage
    from components.stages.evaluate import evaluate_stage

    with stage("evaluate", config_json, tracking_uri, parent_run_id) as config:
        result = evaluate_stage(
            config, Path(model.path), Path(splits.path), Path(evaluated_model.path), report.path
        )
    for name, value in result["flat"].items():
        metrics.log_metric(name, value)
    thresholds = [result["thresholds"][c] for c in result["metrics"]["per_category"]]
    classification.log_confusion_matrix(
        ["safe", "flagged"], flag_confusion(result["y_true"], result["scores"], thresholds)
    )
    evaluated_model.metadata.update({**model.metadata, "thresholds": result["thresholds"]})
