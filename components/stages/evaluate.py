"""Evaluate: thresholds chosen on validation, metrics and a report on test; the fine-tuned
model is saved again with its thresholds and metrics, and with the index of known violations
(the train split's positives) that recall and the service search. The baseline stage logs the
same way."""

import json
import shutil
import tempfile
from functools import partial
from pathlib import Path

import mlflow

from components.config import PipelineConfig
from components.data.canonical import is_missing, read_dataset
from components.data.split import split_frames
from components.model.evidence_quality import evidence_agreement
from components.model.evidence_report import evidence_examples
from components.model.image_evaluation import evaluate_images
from components.model.image_scoring import image_limits
from components.model.metrics import METRICS_FILE, evaluate_scorer, flat_metrics
from components.model.modeling import ModerationModel
from components.model.neighbours import INDEX_DIR, calibrate_cutoffs, index_known_violations
from components.model.report import write_report
from components.model.vision.analyse import ImageAnalyzer
from components.model.vision.known import KNOWN_IMAGES_FILE, KnownImages


def log_evaluation(result: dict, report_dir: Path, report_path: Path, prefix: str = "") -> dict:
    """The figures and plots to MLflow, the report page to ``report_path``; the flat metrics."""
    flat = flat_metrics(result["metrics"], prefix)
    mlflow.log_metrics(flat)
    mlflow.log_dict(result["thresholds"], "thresholds.json")
    mlflow.log_dict(result["metrics"]["thresholds"], "threshold_choices.json")
    mlflow.log_dict(result["metrics"]["quality"], "quality.json")  # the suite's failures, bias
    mlflow.log_artifacts(str(report_dir), "report")
    shutil.copy(Path(report_dir) / "report.html", report_path)
    return flat


def _index_known_violations(config: PipelineConfig, model, parts: dict, output_dir: Path) -> None:
    """The train split's positives as the model's known-violation index, saved with it (so
    registered and packaged with it) for recall and the service's matches, with match
    cut-offs calibrated on the validation split's negatives."""
    settings = config.index
    batch_size = config.evaluate.batch_size
    index = index_known_violations(
        model,
        parts["train"],
        output_dir / INDEX_DIR,
        settings.max_items,
        settings.backend,
        settings.url,
        batch_size,
    )
    cutoffs = calibrate_cutoffs(index, model, parts["validation"], batch_size)
    index.close()
    mlflow.log_metric("index.known_violations", len(index))
    mlflow.log_metrics({f"index.cutoff.{name}": value for name, value in cutoffs.items()})
    mlflow.set_tag("index.encoder", model.encoder_id)


def image_evaluation(
    config: PipelineConfig, model: ModerationModel, known: KnownImages | None, test, splits_dir
) -> dict | None:
    """The test rows that reference an image, scored through it and by their text at the
    model's thresholds (components.model.image_scoring); None when no row has one, or with
    ``evaluate.images`` off. Images are decoded under the service's limits and matched against
    the ``known`` images."""
    rows = test[~test["image"].map(is_missing)] if "image" in test else test.iloc[:0]
    if rows.empty or not config.evaluate.images:
        return None
    limits = image_limits(config.serving)
    analyzer = ImageAnalyzer(known)
    return evaluate_images(
        model,
        rows,
        Path(splits_dir),
        model.thresholds,
        analyzer,
        limits,
        config.evaluate.batch_size,
    )


def evaluate_stage(
    config: PipelineConfig, model_dir: Path, splits_dir: Path, output_dir: Path, report_path: Path
) -> dict:
    """Pick thresholds, score the test split, save the model with its thresholds and metrics.

    Returns ``{"thresholds", "metrics", "y_true", "scores", "flat"}``; the metrics hold the
    image rows' figures under ``images`` when the test split has any.
    """
    model = ModerationModel.load(model_dir)
    parts = split_frames(read_dataset(splits_dir)[1])
    score = partial(model.predict_scores, batch_size=config.evaluate.batch_size)
    result = evaluate_scorer(score, parts, model.taxonomy, config.evaluate)
    model.thresholds = result["thresholds"]
    listed = config.evaluate.known_images
    known = KnownImages.load(listed) if listed else None
    if images := image_evaluation(config, model, known, parts["test"], splits_dir):
        result["metrics"]["images"] = images
    if agreement := evidence_agreement(model, parts["test"], result["scores"], score):
        result["metrics"]["evidence"] = agreement
    model.save(output_dir)
    if known:  # packaged with the model, for the service
        known.write(Path(output_dir) / KNOWN_IMAGES_FILE)
    if config.index.enabled:
        _index_known_violations(config, model, parts, Path(output_dir))
    (Path(output_dir) / METRICS_FILE).write_text(json.dumps(result["metrics"], indent=2), "utf-8")
    with tempfile.TemporaryDirectory(prefix="evaluation-") as report_dir:  # kept in MLflow
        write_report(
            result["y_true"],
            result["scores"],
            model.categories,
            result["thresholds"],
            result["metrics"],
            Path(report_dir),
            f"{config.name}: fine-tuned {model.base_model}",
            examples=evidence_examples(model, parts["test"], result["scores"], model.thresholds),
        )
        return {**result, "flat": log_evaluation(result, Path(report_dir), report_path)}
