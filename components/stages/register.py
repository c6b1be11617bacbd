"""Register & gate: log the evaluated model as a new version, compare it with the champion,
and move ``champion`` only when the gate passes; the run's summary figures go on the parent."""

import json
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from components.config import PipelineConfig
from components.data.canonical import read_dataset
from components.data.split import split_frames
from components.model.metrics import METRICS_FILE, flat_metrics
from components.registry.gate import GateDecision
from components.registry.models import register_and_gate


def lift(candidate: dict, baseline: dict) -> dict[str, float]:
    """Fine-tuned minus baseline, for every flat metric both have (``hate.pr_auc``, ...)."""
    return {f"lift.{key}": candidate[key] - baseline[key] for key in candidate if key in baseline}


def summarise_on_parent(parent_run_id: str, decision: GateDecision, baseline: dict) -> None:
    """The figures people compare runs by, on the pipeline's own run in the MLflow table."""
    client = MlflowClient()
    macro = {f"macro.{k}": v for k, v in decision.candidate["macro"].items() if v is not None}
    figures = {
        **macro,
        **{f"baseline.{k}": v for k, v in baseline.items() if k in macro},
        **lift(macro, baseline),
    }
    for key, value in figures.items():
        client.log_metric(parent_run_id, key, value)
    client.log_metric(parent_run_id, "gate.passed", float(decision.passed))
    client.set_tag(parent_run_id, "model.version", decision.candidate_version)
    client.set_tag(parent_run_id, "gate.passed", str(decision.passed).lower())


def register_stage(
    config: PipelineConfig,
    model_dir: Path,
    splits_dir: Path,
    dataset_version: str,
    baseline_metrics: dict[str, float],
    parent_run_id: str,
) -> GateDecision:
    """Register the evaluated model, log its lift over the baseline, and gate it."""
    metrics = json.loads((Path(model_dir) / METRICS_FILE).read_text(encoding="utf-8"))
    mlflow.log_metrics(lift(flat_metrics(metrics), baseline_metrics))
    test = split_frames(read_dataset(splits_dir)[1])["test"]
    tags = {"dataset_version": dataset_version, "pipeline": config.name}
    decision = register_and_gate(
        model_dir, test, metrics, config.gate, config.registry.model_name, tags
    )
    if parent_run_id:
        summarise_on_parent(parent_run_id, decision, baseline_metrics)
    return decision
