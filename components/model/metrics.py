"""Evaluation metrics: thresholds for a target precision, and per-category figures.

Everything here takes ``y_true`` (float [n, k], nan = unknown label) and ``scores``
(float [n, k] in [0, 1]), so it works for any model: fine-tuned, baseline or a served one.
Unknown labels are masked per category, never read as 0.
"""

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from components.data.canonical import Taxonomy, label_column
from components.errors import ModpipeError
from components.model.quality import flat_quality_metrics, quality_metrics

METRIC_NAMES = ("precision", "recall", "f1", "roc_auc", "pr_auc", "ece")
DEFAULT_THRESHOLD = 0.5


def label_matrix(frame: pd.DataFrame, categories: list[str]) -> np.ndarray:
    """The ``label_<category>`` columns as float [n, k]; unknown (<NA>) becomes nan."""
    missing = [c for c in categories if label_column(c) not in frame.columns]
    if missing:
        raise ModpipeError(f"the data has no labels for categories: {', '.join(missing)}")
    columns = [frame[label_column(c)].astype("Float64") for c in categories]
    return np.column_stack([c.to_numpy(dtype=float, na_value=np.nan) for c in columns])


def check_shapes(y_true: np.ndarray, scores: np.ndarray, categories: list[str]) -> None:
    if y_true.shape != scores.shape or y_true.ndim != 2 or y_true.shape[1] != len(categories):
        raise ModpipeError(
            f"labels {y_true.shape} and scores {scores.shape} must both be "
            f"[rows, {len(categories)} categories]"
        )
    if not np.all(np.isfinite(scores)):
        raise ModpipeError("scores contain nan or infinite values")


def known_labels(
    y_true: np.ndarray, scores: np.ndarray, column: int
) -> tuple[np.ndarray, np.ndarray]:
    """Labels (as int) and scores of one category, restricted to rows whose label is known."""
    mask = ~np.isnan(y_true[:, column])
    return y_true[mask, column].astype(int), scores[mask, column]


def _f1_optimal(precision: np.ndarray, recall: np.ndarray, eligible: int) -> int:
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    return int(np.argmax(f1[:eligible]))


def _choose_cut(labels: np.ndarray, scores: np.ndarray, target, floor, min_positives) -> dict:
    """One category's cut-off on validation (see :func:`choose_thresholds`)."""
    precision, recall, cuts = precision_recall_curve(labels, scores)
    # precision[i] belongs to cuts[i] (predict score >= cut), ascending; the last has no cut.
    # Cuts with fewer than min_positives true positives above them are too few to trust.
    true_positives = np.rint(recall[:-1] * labels.sum())
    eligible = int(np.sum(true_positives >= min_positives))
    # The monotone envelope from the strict end: a cut counts only if every stricter trusted
    # cut reaches the target too, so a lucky spike of precision at a low cut is never chosen.
    envelope = np.minimum.accumulate(precision[:eligible][::-1])[::-1]
    reaching = np.flatnonzero(envelope >= target) if target is not None else []
    if len(reaching):
        index, rule = int(reaching[0]), "target precision"
    else:
        index, rule = _f1_optimal(precision, recall, eligible), "best F1: target not reached"
    if floor is not None and recall[index] < floor:
        index, rule = int(np.flatnonzero(recall[:-1] >= floor)[-1]), "recall floor"
    return {
        "threshold": float(cuts[index]),
        "rule": rule,
        "target_reached": bool(target is not None and precision[index] >= target),
        "validation_precision": float(precision[index]),
        "validation_recall": float(recall[index]),
    }


def choose_thresholds(
    y_true: np.ndarray,
    scores: np.ndarray,
    categories: list[str],
    target_precision: dict[str, float],
    fallback: dict[str, float],
    min_positives: int = 1,
    recall_floor: dict[str, float] | None = None,
) -> dict[str, dict]:
    """Per category, on validation: the lowest cut-off whose precision, and that of every
    stricter cut-off with at least ``min_positives`` true positives above it, reaches the
    target (so the most recall a steady precision allows).

    Where no cut-off reaches the target, the F1-optimal one is taken and ``target_reached`` says
    so; a ``recall_floor`` lowers the cut-off until it recalls that share. A category with
    fewer than ``min_positives`` known positives keeps ``fallback`` (the taxonomy default).
    Each choice: ``threshold``, ``rule``, ``target_precision``, ``target_reached``,
    ``recall_floor``, ``validation_positives``, ``validation_precision``/``_recall`` and
    ``base_rate``, the share of positives among validation's known labels.
    """
    check_shapes(y_true, scores, categories)
    floors = recall_floor or {}
    choices = {}
    for column, category in enumerate(categories):
        labels, category_scores = known_labels(y_true, scores, column)
        target, floor = target_precision.get(category), floors.get(category)
        chosen = {
            "threshold": float(fallback.get(category, DEFAULT_THRESHOLD)),
            "rule": "default: too few validation positives",
            "target_reached": False,
            "validation_precision": None,
            "validation_recall": None,
        }
        if labels.sum() >= min_positives and labels.sum() > 0:
            chosen = _choose_cut(labels, category_scores, target, floor, min_positives)
            if chosen["rule"] == "target precision" and target <= labels.mean():
                chosen["rule"] = "target precision, at or under the base rate"
        choices[category] = {
            **chosen,
            "target_precision": target,
            "recall_floor": floor,
            "validation_positives": int(labels.sum()),
            # At or under the target, flagging everything reaches it: set a higher one.
            "base_rate": float(labels.mean()) if len(labels) else None,
        }
    return choices


def without_sources(
    y_true: np.ndarray, sources: np.ndarray, left_out: list[str], min_positives: int
) -> tuple[np.ndarray, list[bool]]:
    """The labels that choose the cut-offs: in each category where the other rows hold at least
    ``min_positives`` positives, the rows of the ``left_out`` sources count as unknown. A
    template-built corpus is easier than real text, so a cut-off chosen partly on it promises
    more precision than real traffic gets. Also returns, per category, whether they were left
    out."""
    aside = np.isin(sources, left_out)
    labels = y_true.copy()
    enough = [
        bool(aside.any() and np.nansum(y_true[~aside, k]) >= min_positives)
        for k in range(y_true.shape[1])
    ]
    labels[np.ix_(aside, np.flatnonzero(enough))] = np.nan
    return labels, enough


def cutoffs(choices: dict[str, dict]) -> dict[str, float]:
    """The thresholds of :func:`choose_thresholds`' choices, by category."""
    return {category: choice["threshold"] for category, choice in choices.items()}


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


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def category_counts(labels: np.ndarray, category_scores: np.ndarray, threshold: float) -> dict:
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
    check_shapes(y_true, scores, categories)
    return {
        category: category_counts(*known_labels(y_true, scores, column), thresholds[category])
        for column, category in enumerate(categories)
    }


def _category_metrics(labels: np.ndarray, category_scores: np.ndarray, threshold: float) -> dict:
    counts = category_counts(labels, category_scores, threshold)
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    both_classes = len(np.unique(labels)) == 2
    return {
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
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
    check_shapes(y_true, scores, categories)
    per_category = {
        category: _category_metrics(*known_labels(y_true, scores, column), thresholds[category])
        for column, category in enumerate(categories)
    }
    return {"per_category": per_category, "macro": _macro(per_category)}


def metrics_by_source(
    y_true: np.ndarray,
    scores: np.ndarray,
    categories: list[str],
    thresholds: dict[str, float],
    sources: np.ndarray,
) -> dict[str, dict]:
    """:func:`compute_metrics` on each source's rows, over the categories it labels; empty
    when all rows come from one source (the whole-split figures say it all)."""
    names = list(dict.fromkeys(sources))
    if len(names) < 2:
        return {}
    by_source = {}
    for name in names:
        rows = sources == name
        labelled = [j for j in range(len(categories)) if not np.isnan(y_true[rows, j]).all()]
        by_source[name] = compute_metrics(
            y_true[np.ix_(rows, labelled)],
            scores[np.ix_(rows, labelled)],
            [categories[j] for j in labelled],
            thresholds,
        )
        by_source[name]["rows"] = int(rows.sum())
    return by_source


def flat_metrics(metrics: dict, prefix: str = "") -> dict[str, float]:
    """``{"hate.pr_auc": 0.8, "macro.f1": ..., "source.davidson.hate.f1": ...,
    "threshold.hate.target_reached": 1.0, "test.images.image.macro.f1": ..., "evidence.f1":
    ...}`` for MLflow and
    KFP Metrics; None ones left out."""
    flat = {
        f"{prefix}threshold.{category}.{name}": float(choice[name])
        for category, choice in metrics.get("thresholds", {}).items()
        for name in ("target_reached", "validation_precision", "validation_recall")
        if choice[name] is not None
    }
    parts = {"": metrics, **{f"source.{n}.": m for n, m in metrics.get("by_source", {}).items()}}
    images = metrics.get("images")
    if images:  # the test rows with an image, scored through it and by their text
        parts.update({f"test.images.{by}.": images[by] for by in ("image", "text")})
        counts = {
            "rows": images["rows"],
            "ocr_character_error": images["ocr_character_error"],
            **{f"flags.{name}": count for name, count in images["flags_by_input"].items()},
        }
        flat.update({f"{prefix}test.images.{k}": float(v) for k, v in counts.items()})
    for part, values in parts.items():
        sections = {**values["per_category"], "macro": values["macro"]}
        flat.update(
            {
                f"{prefix}{part}{section}.{name}": float(value)
                for section, figures in sections.items()
                for name, value in figures.items()
                if value is not None
            }
        )
    if "quality" in metrics:
        flat.update(flat_quality_metrics(metrics["quality"], prefix))
    if "evidence" in metrics:  # agreement with the annotators' spans (evidence_quality)
        agreement = metrics["evidence"]
        flat.update({f"{prefix}evidence.{k}": float(agreement[k]) for k in ("f1", "rows")})
    return flat


# --- evaluating a scorer ----------------------------------------------------------------

METRICS_FILE = "metrics.json"


def evaluate_scorer(predict, parts: dict, taxonomy: Taxonomy, config) -> dict:
    """Thresholds chosen on validation to reach the target precision, metrics on test.

    ``predict(texts) -> scores [n, k]`` in taxonomy order; ``config`` is an EvaluateConfig.
    Returns ``{"thresholds", "metrics", "y_true", "scores", "validation"}`` (labels and scores:
    on test, and the validation pair that chose the cut-offs, for rules fitted on it); the
    metrics hold the whole test split's figures, under ``by_source`` each source's, under
    ``thresholds`` how each cut-off was chosen (``chosen_without``: the sources of
    ``config.cutoffs_without`` it was chosen without), and under ``quality`` the behavioural suite's
    and the identity-term bias figures (components.model.quality).
    """
    categories = taxonomy.names
    targets = {c: config.per_category_precision.get(c, config.target_precision) for c in categories}
    floors = {c: config.per_category_recall_floor.get(c, config.recall_floor) for c in categories}
    validation = parts["validation"]
    validation_pair = label_matrix(validation, categories), predict(validation["text"].tolist())
    labels, left_out = without_sources(
        validation_pair[0],
        validation["source"].astype(str).to_numpy(),
        config.cutoffs_without,
        config.min_threshold_positives,
    )
    choices = choose_thresholds(
        labels,
        validation_pair[1],
        categories,
        targets,
        {c.name: c.threshold for c in taxonomy.categories},
        config.min_threshold_positives,
        {c: floor for c, floor in floors.items() if floor is not None},
    )
    for category, was_left_out in zip(categories, left_out, strict=True):
        choices[category]["chosen_without"] = config.cutoffs_without if was_left_out else []
    thresholds = cutoffs(choices)
    test = parts["test"]
    y_true = label_matrix(test, categories)
    scores = predict(test["text"].tolist())
    metrics = compute_metrics(y_true, scores, categories, thresholds)
    metrics["thresholds"] = choices
    sources = test["source"].astype(str).to_numpy()
    metrics["by_source"] = metrics_by_source(y_true, scores, categories, thresholds, sources)
    metrics["quality"] = quality_metrics(predict, test, scores, categories, thresholds, config)
    return {
        "thresholds": thresholds,
        "metrics": metrics,
        "y_true": y_true,
        "scores": scores,
        "validation": validation_pair,
    }


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
