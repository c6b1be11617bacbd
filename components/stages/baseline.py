"""Baseline: the zero/few-shot embedding classifier, scored like the fine-tuned model."""

import tempfile
from pathlib import Path

from components.config import PipelineConfig
from components.data.canonical import read_dataset
from components.data.split import split_frames
from components.model.baseline import EmbeddingBaseline
from components.model.metrics import evaluate_scorer
from components.model.report import write_report
from components.stages.evaluate import log_evaluation


def baseline_stage(config: PipelineConfig, splits_dir: Path, report_path: Path) -> dict:
    """Fit on train, thresholds on validation, metrics on test; the flat ``baseline.`` metrics."""
    card, frame = read_dataset(splits_dir)
    parts = split_frames(frame)
    baseline = EmbeddingBaseline(
        card, encoder=config.baseline.encoder, shots=config.baseline.shots, seed=config.split.seed
    ).fit(parts["train"])
    result = evaluate_scorer(baseline.predict_scores, parts, card, config.evaluate)
    kind = f"{config.baseline.shots}-shot" if config.baseline.shots else "zero-shot"
    with tempfile.TemporaryDirectory(prefix="baseline-") as report_dir:  # kept in MLflow
        write_report(
            result["y_true"],
            result["scores"],
            card.names,
            result["thresholds"],
            result["metrics"],
            Path(report_dir),
            f"{config.name}: {kind} embedding baseline (no fine-tuning)",
        )
        return log_evaluation(result, Path(report_dir), report_path, prefix="baseline.")
