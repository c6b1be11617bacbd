"""Evaluation: thresholds, metrics and a self-contained HTML report from score matrices.

Everything here takes ``y_true`` (float [n, k], nan = unknown label) and ``scores``
(float [n, k] in [0, 1]), so it works for any model: fine-tuned, baseline or a served one.
Unknown labels are masked per category, never read as 0.
"""

import base64
import html
import math
from pathlib import Path

import numpy as np
import pandas as pd
from kfp.dsl import HTML, ClassificationMetrics, Dataset, Input, Metrics, Model, Output
from matplotlib import colormaps
from matplotlib.figure import Figure  # figures without pyplot render with the Agg canvas
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from components.canonical import Taxonomy, label_column, read_dataset
from components.errors import ModpipeError
from components.kfp_support import component

METRIC_NAMES = ("precision", "recall", "f1", "roc_auc", "pr_auc", "ece")
DEFAULT_THRESHOLD = 0.5
# Columns of the report table: (metric key, header).
TABLE_COLUMNS = (
    ("threshold", "Threshold"),
    ("support", "Positives"),
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("f1", "F1"),
    ("roc_auc", "ROC-AUC"),
    ("pr_auc", "PR-AUC"),
    ("ece", "ECE"),
)
LIFT_METRICS = (("pr_auc", "PR-AUC"), ("f1", "F1"))


def label_matrix(frame: pd.DataFrame, categories: list[str]) -> np.ndarray:
    """The ``label_<category>`` columns as float [n, k]; unknown (<NA>) becomes nan."""
    missing = [c for c in categories if label_column(c) not in frame.columns]
    if missing:
        raise ModpipeError(f"the data has no labels for categories: {', '.join(missing)}")
    columns = [frame[label_column(c)].astype("Float64") for c in categories]
    return np.column_stack([c.to_numpy(dtype=float, na_value=np.nan) for c in columns])


def _check_shapes(y_true: np.ndarray, scores: np.ndarray, categories: list[str]) -> None:
    if y_true.shape != scores.shape or y_true.ndim != 2 or y_true.shape[1] != len(categories):
        raise ModpipeError(
            f"labels {y_true.shape} and scores {scores.shape} must both be "
            f"[rows, {len(categories)} categories]"
        )
    if not np.all(np.isfinite(scores)):
        raise ModpipeError("scores contain nan or infinite values")


def _known(y_true: np.ndarray, scores: np.ndarray, column: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels (as int) and scores of one category, restricted to rows whose label is known."""
    mask = ~np.isnan(y_true[:, column])
    return y_true[mask, column].astype(int), scores[mask, column]


def _f1_optimal_threshold(precision: np.ndarray, recall: np.ndarray, cuts: np.ndarray) -> float:
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    return float(cuts[int(np.argmax(f1[:-1]))])


def choose_thresholds(
    y_true: np.ndarray,
    scores: np.ndarray,
    categories: list[str],
    target_precision: dict[str, float],
    fallback: dict[str, float],
) -> dict[str, float]:
    """Per category: the lowest threshold reaching the target precision (so the most recall).

    Falls back to the F1-optimal threshold when no threshold reaches the target (or the
    category has no target), and to ``fallback`` (the taxonomy default) when the category
    has no known positives to learn from. Meant for the validation split.
    """
    _check_shapes(y_true, scores, categories)
    thresholds = {}
    for column, category in enumerate(categories):
        labels, category_scores = _known(y_true, scores, column)
        if labels.sum() == 0:
            thresholds[category] = float(fallback.get(category, DEFAULT_THRESHOLD))
            continue
        precision, recall, cuts = precision_recall_curve(labels, category_scores)
        # precision[i] belongs to cuts[i] (predict score >= cut); the last point has no cut.
        target = target_precision.get(category)
        reaching = np.flatnonzero(precision[:-1] >= target) if target is not None else []
        if len(reaching):
            thresholds[category] = float(cuts[reaching[0]])
        else:
            thresholds[category] = _f1_optimal_threshold(precision, recall, cuts)
    return thresholds


def expected_calibration_error(
    y_true_1d: np.ndarray, scores_1d: np.ndarray, bins: int = 10
) -> float:
    """Mean |observed positive rate - mean score| over equal-width score bins, weighted by size."""
    y_true_1d, scores_1d = np.asarray(y_true_1d, float), np.asarray(scores_1d, float)
    if len(scores_1d) == 0:
        raise ModpipeError("expected calibration error needs at least one labelled row")
    which_bin = np.clip((scores_1d * bins).astype(int), 0, bins - 1)
    error = 0.0
    for b in np.unique(which_bin):
        in_bin = which_bin == b
        error += in_bin.mean() * abs(y_true_1d[in_bin].mean() - scores_1d[in_bin].mean())
    return float(error)


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _category_counts(labels: np.ndarray, category_scores: np.ndarray, threshold: float) -> dict:
    predicted = category_scores >= threshold
    positive = labels == 1
    return {
        "tp": int(np.sum(predicted & positive)),
        "fp": int(np.sum(predicted & ~positive)),
        "fn": int(np.sum(~predicted & positive)),
        "tn": int(np.sum(~predicted & ~positive)),
    }


def confusion_counts(
    y_true: np.ndarray, scores: np.ndarray, categories: list[str], thresholds: dict[str, float]
) -> dict[str, dict[str, int]]:
    """tp/fp/fn/tn per category at its threshold, over rows with a known label."""
    _check_shapes(y_true, scores, categories)
    return {
        category: _category_counts(*_known(y_true, scores, column), thresholds[category])
        for column, category in enumerate(categories)
    }


def _category_metrics(labels: np.ndarray, category_scores: np.ndarray, threshold: float) -> dict:
    counts = _category_counts(labels, category_scores, threshold)
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    both_classes = len(np.unique(labels)) == 2
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "roc_auc": float(roc_auc_score(labels, category_scores)) if both_classes else None,
        "pr_auc": float(average_precision_score(labels, category_scores)) if both_classes else None,
        "ece": expected_calibration_error(labels, category_scores) if len(labels) else None,
        "support": int(labels.sum()),
        "threshold": float(threshold),
    }


def _macro(per_category: dict[str, dict]) -> dict[str, float | None]:
    macro = {}
    for name in METRIC_NAMES:
        defined = [m[name] for m in per_category.values() if m[name] is not None]
        macro[name] = float(np.mean(defined)) if defined else None
    return macro


def compute_metrics(
    y_true: np.ndarray, scores: np.ndarray, categories: list[str], thresholds: dict[str, float]
) -> dict:
    """Per-category and macro metrics; a metric is None where it is undefined.

    AUCs need both classes among the known labels; precision needs a predicted positive,
    recall a known positive. The macro average skips categories where a metric is None.
    """
    _check_shapes(y_true, scores, categories)
    per_category = {
        category: _category_metrics(*_known(y_true, scores, column), thresholds[category])
        for column, category in enumerate(categories)
    }
    return {"per_category": per_category, "macro": _macro(per_category)}


def flat_metrics(metrics: dict, prefix: str = "") -> dict[str, float]:
    """``{"hate.pr_auc": 0.8, "macro.f1": ...}`` for MLflow / KFP Metrics; None ones left out."""
    sections = {**metrics["per_category"], "macro": metrics["macro"]}
    return {
        f"{prefix}{section}.{name}": float(value)
        for section, values in sections.items()
        for name, value in values.items()
        if value is not None
    }


# --- report -----------------------------------------------------------------------------------


def _grid(count: int, panel_size: float = 3.2) -> tuple[Figure, list]:
    columns = min(4, count)
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(panel_size * columns, panel_size * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for unused in axes[count:]:
        unused.set_visible(False)
    return figure, list(axes[:count])


def _colors(count: int) -> list:
    palette = "tab10" if count <= 10 else "tab20"
    return [colormaps[palette](i) for i in range(count)]


def _plot_pr_curves(y_true, scores, categories, thresholds, title: str) -> Figure:
    figure = Figure(figsize=(7.5, 6), layout="constrained")
    axes = figure.subplots()
    for column, (category, color) in enumerate(
        zip(categories, _colors(len(categories)), strict=True)
    ):
        labels, category_scores = _known(y_true, scores, column)
        if len(np.unique(labels)) < 2:
            axes.plot([], [], color=color, label=f"{category} (one class only, no curve)")
            continue
        precision, recall, _ = precision_recall_curve(labels, category_scores)
        average_precision = average_precision_score(labels, category_scores)
        axes.step(
            recall,
            precision,
            where="post",
            color=color,
            lw=1.8,
            label=f"{category} (AP {average_precision:.3f})",
        )
        counts = _category_counts(labels, category_scores, thresholds[category])
        point_recall = _ratio(counts["tp"], counts["tp"] + counts["fn"]) or 0.0
        point_precision = _ratio(counts["tp"], counts["tp"] + counts["fp"])
        if point_precision is not None:
            axes.plot(point_recall, point_precision, "o", color=color, ms=8, mec="black")
    axes.plot([], [], "o", color="white", mec="black", label="operating point (threshold)")
    axes.set(
        xlim=(0, 1.01),
        ylim=(0, 1.03),
        xlabel="Recall",
        ylabel="Precision",
        title=f"{title}: precision-recall by category",
    )
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize="small", framealpha=0.9)
    return figure


def _plot_calibration(y_true, scores, categories, title: str, bins: int = 10) -> Figure:
    figure, axes_list = _grid(len(categories))
    edges = np.linspace(0, 1, bins + 1)
    for column, (category, axes, color) in enumerate(
        zip(categories, axes_list, _colors(len(categories)), strict=True)
    ):
        labels, category_scores = _known(y_true, scores, column)
        axes.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
        if len(labels):
            which_bin = np.clip((category_scores * bins).astype(int), 0, bins - 1)
            filled = np.unique(which_bin)
            observed = [labels[which_bin == b].mean() for b in filled]
            axes.bar(
                edges[filled],
                observed,
                width=1 / bins,
                align="edge",
                color=color,
                alpha=0.75,
                edgecolor="black",
                lw=0.5,
                label="observed positive rate",
            )
            ece = expected_calibration_error(labels, category_scores, bins)
            axes.set_title(f"{category} (ECE {ece:.3f}, n={len(labels)})", fontsize="medium")
        else:
            axes.set_title(f"{category} (no known labels)", fontsize="medium")
        axes.set(
            xlim=(0, 1), ylim=(0, 1), xlabel="Mean predicted score", ylabel="Fraction positive"
        )
        axes.grid(alpha=0.3)
    axes_list[0].legend(loc="upper left", fontsize="x-small")
    figure.suptitle(f"{title}: reliability diagrams")
    return figure


def _plot_confusion(y_true, scores, categories, thresholds, title: str) -> Figure:
    figure, axes_list = _grid(len(categories), panel_size=2.8)
    counts = confusion_counts(y_true, scores, categories, thresholds)
    for category, axes in zip(categories, axes_list, strict=True):
        c = counts[category]
        matrix = np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]])
        # Colour by share of the true class so a rare category's row is still readable.
        row_share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        axes.imshow(row_share, cmap="Blues", vmin=0, vmax=1)
        for (row, col), value in np.ndenumerate(matrix):
            axes.text(
                col,
                row,
                f"{value:,}",
                ha="center",
                va="center",
                fontsize="large",
                color="white" if row_share[row, col] > 0.5 else "black",
            )
        axes.set_xticks([0, 1], ["no", "yes"])
        axes.set_yticks([0, 1], ["no", "yes"])
        axes.set(xlabel="Predicted", ylabel="True")
        axes.set_title(f"{category} @ {thresholds[category]:.2f}", fontsize="medium")
    figure.suptitle(f"{title}: confusion at the chosen thresholds (colour: share of true class)")
    return figure


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=110)
    return path


def _format(value) -> str:
    if value is None:
        return "–"
    return f"{value:,}" if isinstance(value, int) else f"{value:.3f}"


def _lift(metrics: dict | None, baseline: dict | None, metric: str) -> str:
    if not metrics or not baseline or metrics.get(metric) is None or baseline.get(metric) is None:
        return "–"
    return f"{metrics[metric] - baseline[metric]:+.3f}"


def _metrics_table(metrics: dict, baseline: dict | None) -> str:
    headers = ["Category"] + [header for _, header in TABLE_COLUMNS]
    if baseline:
        headers += ["Baseline PR-AUC"] + [f"Lift {header}" for _, header in LIFT_METRICS]
    rows = [
        (name, values, (baseline or {}).get("per_category", {}).get(name))
        for name, values in metrics["per_category"].items()
    ]
    rows.append(("macro", metrics["macro"], (baseline or {}).get("macro")))
    body = []
    for name, values, baseline_values in rows:
        cells = [html.escape(name)] + [_format(values.get(key)) for key, _ in TABLE_COLUMNS]
        if baseline:
            cells.append(_format((baseline_values or {}).get("pr_auc")))
            cells += [_lift(values, baseline_values, key) for key, _ in LIFT_METRICS]
        css = ' class="macro"' if name == "macro" else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    rows_html = "".join(body)
    return (
        f'<table class="metrics"><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>'
    )


REPORT_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1100px; }
table.metrics { border-collapse: collapse; margin: 1rem 0; font-variant-numeric: tabular-nums; }
table.metrics th, table.metrics td {
  border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right;
}
table.metrics td:first-child, table.metrics th:first-child { text-align: left; }
table.metrics thead { background: #f0f3f7; }
tr.macro { font-weight: bold; background: #fafafa; }
img { max-width: 100%; margin: 0.5rem 0 1.5rem; }
p.note { color: #555; font-size: 0.9rem; }
"""


def _html_page(title: str, table: str, images: dict[str, Path], with_lift: bool) -> str:
    figures = "".join(
        f'<h2>{html.escape(caption)}</h2><img alt="{html.escape(caption)}" '
        f'src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode("ascii")}">'
        for caption, path in images.items()
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{REPORT_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        "<h2>Metrics</h2>"
        '<p class="note">Rows with an unknown label are left out per category. "–": undefined '
        "(e.g. AUCs need both classes)."
        f"{' Lift: this model minus the baseline.' if with_lift else ''}</p>"
        f"{table}{figures}</body></html>"
    )


def write_report(
    y_true: np.ndarray,
    scores: np.ndarray,
    categories: list[str],
    thresholds: dict[str, float],
    metrics: dict,
    out_dir: Path,
    title: str,
    baseline: dict | None = None,
) -> dict[str, Path]:
    """PR curves, reliability diagrams, confusion grid (PNGs) and a self-contained report.html."""
    _check_shapes(y_true, scores, categories)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "pr_curves": _save(
            _plot_pr_curves(y_true, scores, categories, thresholds, title),
            out_dir / "pr_curves.png",
        ),
        "calibration": _save(
            _plot_calibration(y_true, scores, categories, title), out_dir / "calibration.png"
        ),
        "confusion": _save(
            _plot_confusion(y_true, scores, categories, thresholds, title),
            out_dir / "confusion.png",
        ),
    }
    images = {
        "Precision-recall curves": paths["pr_curves"],
        "Calibration": paths["calibration"],
        "Confusion at the thresholds": paths["confusion"],
    }
    page = _html_page(title, _metrics_table(metrics, baseline), images, with_lift=bool(baseline))
    paths["report"] = out_dir / "report.html"
    paths["report"].write_text(page, encoding="utf-8")
    return paths


# --- the pipeline stage ------------------------------------------------------------------

METRICS_FILE = "metrics.json"


def evaluate_scorer(predict, parts: dict, taxonomy: Taxonomy, config) -> dict:
    """Thresholds chosen on validation to reach the target precision, metrics on test.

    ``predict(texts) -> scores [n, k]`` in taxonomy order; ``config`` is an EvaluateConfig.
    Returns ``{"thresholds", "metrics", "y_true", "scores"}`` (the last two on test).
    """
    categories = taxonomy.names
    targets = {c: config.per_category_precision.get(c, config.target_precision) for c in categories}
    fallback = {c.name: c.threshold for c in taxonomy.categories}
    validation = parts["validation"]
    thresholds = choose_thresholds(
        label_matrix(validation, categories),
        predict(validation["text"].tolist()),
        categories,
        targets,
        fallback,
    )
    y_true = label_matrix(parts["test"], categories)
    scores = predict(parts["test"]["text"].tolist())
    metrics = compute_metrics(y_true, scores, categories, thresholds)
    return {"thresholds": thresholds, "metrics": metrics, "y_true": y_true, "scores": scores}


def flag_confusion(y_true: np.ndarray, scores: np.ndarray, thresholds: list[float]) -> list:
    """2x2 [[safe->safe, safe->flagged], [harmful->safe, harmful->flagged]] for the overall
    decision (flagged = any category over its threshold), on rows with no unknown label."""
    known = ~np.isnan(y_true).any(axis=1)
    truth = (y_true[known] == 1).any(axis=1)
    flagged = (scores[known] >= np.asarray(thresholds)).any(axis=1)
    return [
        [int((~truth & ~flagged).sum()), int((~truth & flagged).sum())],
        [int((truth & ~flagged).sum()), int((truth & flagged).sum())],
    ]


def evaluate_stage(
    config, model_dir: Path, splits_dir: Path, output_dir: Path, report_dir: Path
) -> dict:
    """Pick thresholds, score the test split, save the model with its thresholds and metrics."""
    import json

    from components.modeling import ModerationModel
    from components.split import split_frames

    model = ModerationModel.load(model_dir)
    parts = split_frames(read_dataset(splits_dir)[1])
    result = evaluate_scorer(
        lambda texts: model.predict_scores(texts, config.evaluate.batch_size),
        parts,
        model.taxonomy,
        config.evaluate,
    )
    model.thresholds = result["thresholds"]
    model.save(output_dir)
    (Path(output_dir) / METRICS_FILE).write_text(json.dumps(result["metrics"], indent=2), "utf-8")
    write_report(
        result["y_true"],
        result["scores"],
        model.categories,
        result["thresholds"],
        result["metrics"],
        report_dir,
        f"{config.name}: fine-tuned {model.base_model}",
    )
    return result


def log_evaluation(
    result: dict, metrics: Metrics, report: HTML, report_dir: Path, prefix: str = ""
) -> None:
    """The same figures to MLflow (metrics, plots) and to the KFP UI (Metrics, HTML)."""
    import shutil

    import mlflow

    flat = flat_metrics(result["metrics"], prefix)
    mlflow.log_metrics(flat)
    mlflow.log_dict(result["thresholds"], "thresholds.json")
    mlflow.log_artifacts(str(report_dir), "report")
    for name, value in flat.items():
        metrics.log_metric(name, value)
    shutil.copy(Path(report_dir) / "report.html", report.path)


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
    import tempfile
    from pathlib import Path

    from components.evaluate import evaluate_stage, flag_confusion, log_evaluation
    from components.kfp_support import stage

    with stage("evaluate", config_json, tracking_uri, parent_run_id) as config:
        report_dir = Path(tempfile.mkdtemp(prefix="evaluation-"))
        result = evaluate_stage(
            config, Path(model.path), Path(splits.path), Path(evaluated_model.path), report_dir
        )
        log_evaluation(result, metrics, report, report_dir)
        thresholds = [result["thresholds"][c] for c in result["metrics"]["per_category"]]
        classification.log_confusion_matrix(
            ["safe", "flagged"], flag_confusion(result["y_true"], result["scores"], thresholds)
        )
    evaluated_model.metadata.update({**model.metadata, "thresholds": result["thresholds"]})


def load_any_model(reference: str):
    """A ModerationModel from an MLflow URI, a local folder, or a bento / BentoML model tag."""
    from components.package import load_packaged_model
    from components.register import load_model

    if reference.startswith(("models:/", "runs:/")) or Path(reference).is_dir():
        return load_model(reference)
    if ":" in reference or "/" not in reference:
        return load_packaged_model(reference)
    raise ModpipeError(f"{reference}: not a model URI, a model folder or a bento tag")


def score_dataset(reference: str, data_dir: Path, batch_size: int = 64) -> dict:
    """Metrics of a model on any canonical dataset, over the categories both share."""
    model = load_any_model(reference)
    card, frame = read_dataset(data_dir)
    shared = [name for name in model.categories if name in card.names]
    if not shared:
        raise ModpipeError(
            f"the model's categories ({', '.join(model.categories)}) and the dataset's "
            f"({', '.join(card.names)}) have none in common"
        )
    columns = [model.categories.index(name) for name in shared]
    scores = model.predict_scores(frame["text"].astype(str).tolist(), batch_size)[:, columns]
    thresholds = {name: model.thresholds[name] for name in shared}
    metrics = compute_metrics(label_matrix(frame, shared), scores, shared, thresholds)
    return {"model": reference, "dataset": card.name, "rows": len(frame), **metrics}
