"""Evaluation metrics, thresholds and report on hand-made label/score matrices."""

import numpy as np
import pandas as pd
import pytest

from components.errors import ModpipeError
from components.model.metrics import (
    choose_thresholds,
    compute_metrics,
    confusion_counts,
    cutoffs,
    expected_calibration_error,
    flat_metrics,
    label_matrix,
    metrics_by_source,
)
from components.model.report import write_report

CATEGORIES = ["hate", "spam"]
NAN = np.nan


def noisy_problem(rows: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two categories, positives score higher on average but the classes overlap."""
    rng = np.random.default_rng(seed)
    y_true = (rng.random((rows, 2)) < 0.3).astype(float)
    scores = np.clip(0.3 * y_true + rng.normal(0.35, 0.15, size=y_true.shape), 0, 1)
    return y_true, scores


def test_label_matrix_turns_unknown_into_nan():
    frame = pd.DataFrame(
        {
            "label_hate": pd.array([1, None, 0], dtype="Int8"),
            "label_spam": pd.array([None, 0, 1], dtype="Int8"),
        }
    )
    matrix = label_matrix(frame, CATEGORIES)
    np.testing.assert_array_equal(matrix, [[1, NAN], [NAN, 0], [0, 1]])


def test_label_matrix_names_missing_categories():
    frame = pd.DataFrame({"label_hate": pd.array([1], dtype="Int8")})
    with pytest.raises(ModpipeError, match="spam"):
        label_matrix(frame, CATEGORIES)


def test_perfect_scores_give_perfect_metrics():
    y_true = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=float)
    scores = np.where(y_true == 1, 0.9, 0.1)
    thresholds = cutoffs(
        choose_thresholds(y_true, scores, CATEGORIES, {"hate": 0.9, "spam": 0.9}, {})
    )
    metrics = compute_metrics(y_true, scores, CATEGORIES, thresholds)
    for name in ("precision", "recall", "f1", "roc_auc", "pr_auc"):
        assert metrics["macro"][name] == pytest.approx(1.0)
        assert metrics["per_category"]["hate"][name] == pytest.approx(1.0)
    assert metrics["per_category"]["spam"]["support"] == 2


def test_unknown_labels_are_masked_not_read_as_negative():
    y_true, scores = noisy_problem()
    # Unknown rows with high scores: read as 0, they would be false positives.
    unknown_rows = np.full((50, 2), NAN)
    y_with_unknown = np.vstack([y_true, unknown_rows])
    scores_with_unknown = np.vstack([scores, np.full((50, 2), 0.99)])
    thresholds = {"hate": 0.5, "spam": 0.5}
    assert compute_metrics(y_with_unknown, scores_with_unknown, CATEGORIES, thresholds) == (
        compute_metrics(y_true, scores, CATEGORIES, thresholds)
    )


def test_unknown_in_one_category_only_affects_that_category():
    y_true, scores = noisy_problem()
    y_partial = y_true.copy()
    y_partial[:100, 0] = NAN  # hate unknown for the first 100 rows, spam fully known
    thresholds = {"hate": 0.5, "spam": 0.5}
    partial = compute_metrics(y_partial, scores, CATEGORIES, thresholds)["per_category"]
    dropped = compute_metrics(y_true[100:], scores[100:], CATEGORIES, thresholds)["per_category"]
    full = compute_metrics(y_true, scores, CATEGORIES, thresholds)["per_category"]
    assert partial["hate"] == dropped["hate"]
    assert partial["spam"] == full["spam"]


def test_category_without_positives_has_no_auc_and_macro_skips_it():
    y_true = np.array([[1, 0], [0, 0], [1, 0], [0, NAN]], dtype=float)
    scores = np.array([[0.9, 0.2], [0.1, 0.7], [0.8, 0.1], [0.3, 0.9]])
    thresholds = cutoffs(choose_thresholds(y_true, scores, CATEGORIES, {}, {"spam": 0.4}))
    assert thresholds["spam"] == 0.4  # no positives to learn from: the taxonomy default
    metrics = compute_metrics(y_true, scores, CATEGORIES, thresholds)
    spam = metrics["per_category"]["spam"]
    assert spam["roc_auc"] is None and spam["pr_auc"] is None and spam["recall"] is None
    assert spam["support"] == 0
    assert metrics["macro"]["roc_auc"] == pytest.approx(1.0)  # from hate alone
    assert "spam.roc_auc" not in flat_metrics(metrics)


def test_category_without_any_known_label_does_not_crash():
    y_true = np.array([[1, NAN], [0, NAN]])
    scores = np.array([[0.9, 0.5], [0.1, 0.5]])
    metrics = compute_metrics(y_true, scores, CATEGORIES, {"hate": 0.5, "spam": 0.5})
    assert all(
        metrics["per_category"]["spam"][name] is None
        for name in ("precision", "recall", "f1", "roc_auc", "pr_auc", "ece")
    )
    assert confusion_counts(y_true, scores, CATEGORIES, {"hate": 0.5, "spam": 0.5})["spam"] == {
        "tp": 0,
        "fp": 0,
        "fn": 0,
        "tn": 0,
    }


def test_ece_is_zero_when_each_bin_matches_its_positive_rate():
    # Bin around 0.25 with 1 positive in 4, bin around 0.75 with 3 in 4.
    scores = np.array([0.25] * 4 + [0.75] * 4)
    labels = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(labels, scores) == pytest.approx(0.0)


def test_ece_is_positive_when_overconfident():
    scores = np.full(10, 0.95)
    labels = np.array([1, 0] * 5)
    assert expected_calibration_error(labels, scores) == pytest.approx(0.45)


def precision_recall_at(labels: np.ndarray, scores: np.ndarray, threshold: float):
    predicted = scores >= threshold
    return labels[predicted].mean(), predicted[labels == 1].mean()


@pytest.mark.parametrize("target", [0.7, 0.85, 0.95])
def test_thresholds_reach_target_precision_with_most_recall(target):
    y_true, scores = noisy_problem(seed=1)
    targets = dict.fromkeys(CATEGORIES, target)
    thresholds = cutoffs(choose_thresholds(y_true, scores, CATEGORIES, targets, {}))
    for column, category in enumerate(CATEGORIES):
        labels, category_scores = y_true[:, column], scores[:, column]
        precision, recall = precision_recall_at(labels, category_scores, thresholds[category])
        assert precision >= target
        best_recall = max(
            precision_recall_at(labels, category_scores, cut)[1]
            for cut in np.unique(category_scores)
            if precision_recall_at(labels, category_scores, cut)[0] >= target
        )
        assert recall == best_recall


def test_unreachable_target_falls_back_to_best_f1():
    # The top score is a negative, so no threshold reaches precision 1.
    labels = np.array([0, 1, 1, 0, 1, 0, 0])[:, None].astype(float)
    scores = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.3, 0.2])[:, None]
    thresholds = cutoffs(choose_thresholds(labels, scores, ["hate"], {"hate": 1.0}, {}))

    def f1_at(cut):
        predicted, positive = scores[:, 0] >= cut, labels[:, 0] == 1
        return 2 * np.sum(predicted & positive) / (predicted.sum() + positive.sum())

    assert thresholds["hate"] == 0.6
    assert f1_at(0.6) == max(f1_at(cut) for cut in scores[:, 0])


def test_a_lucky_spike_of_precision_at_a_low_cut_is_not_chosen():
    # Precision by number flagged: 1 1 1 1 .8 .67 .57 .63 .67 .7 .73 .67 .62: it climbs back to
    # 0.73 at the 11th score only by luck, after falling to 0.57.
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0])[:, None].astype(float)
    scores = np.linspace(0.95, 0.35, 13)[:, None]
    choice = choose_thresholds(labels, scores, ["hate"], {"hate": 0.7}, {})["hate"]
    assert choice["threshold"] == pytest.approx(scores[4, 0])  # not scores[10]
    assert choice["rule"] == "target precision" and choice["target_reached"]
    assert choice["validation_precision"] == pytest.approx(0.8)
    # With 5 true positives required above a cut, no trusted cut reaches 0.9.
    strict = choose_thresholds(labels, scores, ["hate"], {"hate": 0.9}, {}, min_positives=5)
    assert strict["hate"]["rule"] == "best F1: target not reached"
    assert strict["hate"]["target_reached"] is False and strict["hate"]["target_precision"] == 0.9


def test_too_few_validation_positives_keep_the_default_and_say_so():
    labels = np.array([1, 0, 1, 0, 0])[:, None].astype(float)
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1])[:, None]
    choice = choose_thresholds(labels, scores, ["hate"], {"hate": 0.5}, {"hate": 0.45}, 3)["hate"]
    assert choice["threshold"] == 0.45 and choice["rule"].startswith("default")
    assert choice["validation_positives"] == 2 and not choice["target_reached"]


def test_a_recall_floor_lowers_the_cut_and_the_target_is_reported_missed():
    labels = np.array([1, 1, 0, 0, 1, 0, 1, 0])[:, None].astype(float)
    scores = np.linspace(0.9, 0.2, 8)[:, None]
    choice = choose_thresholds(labels, scores, ["hate"], {"hate": 1.0}, {}, 1, {"hate": 0.75})
    chosen = choice["hate"]
    assert chosen["rule"] == "recall floor" and chosen["validation_recall"] >= 0.75
    assert chosen["threshold"] == pytest.approx(scores[4, 0]) and not chosen["target_reached"]
    flat = flat_metrics({"per_category": {}, "macro": {}, "thresholds": choice})
    assert flat["threshold.hate.target_reached"] == 0.0


def test_confusion_counts_match_hand_count():
    y_true = np.array([[1, 0], [1, 1], [0, NAN], [0, 0]], dtype=float)
    scores = np.array([[0.9, 0.6], [0.2, 0.8], [0.7, 0.9], [0.1, 0.1]])
    counts = confusion_counts(y_true, scores, CATEGORIES, {"hate": 0.5, "spam": 0.5})
    assert counts["hate"] == {"tp": 1, "fp": 1, "fn": 1, "tn": 1}
    assert counts["spam"] == {"tp": 1, "fp": 1, "fn": 0, "tn": 1}


def test_flat_metrics_names_for_mlflow():
    y_true, scores = noisy_problem()
    metrics = compute_metrics(y_true, scores, CATEGORIES, {"hate": 0.5, "spam": 0.5})
    flat = flat_metrics(metrics, prefix="test.")
    assert flat["test.hate.pr_auc"] == metrics["per_category"]["hate"]["pr_auc"]
    assert flat["test.macro.f1"] == metrics["macro"]["f1"]
    assert all(isinstance(value, float) for value in flat.values())


def test_mismatched_shapes_are_a_user_error():
    with pytest.raises(ModpipeError, match="must both be"):
        compute_metrics(np.zeros((3, 2)), np.zeros((3, 3)), CATEGORIES, {})


def test_write_report_makes_plots_and_a_self_contained_page(tmp_path):
    y_true, scores = noisy_problem(rows=200)
    y_true[:20, 1] = NAN
    thresholds = cutoffs(
        choose_thresholds(y_true, scores, CATEGORIES, dict.fromkeys(CATEGORIES, 0.8), {})
    )
    metrics = compute_metrics(y_true, scores, CATEGORIES, thresholds)
    baseline = compute_metrics(y_true, np.full_like(scores, 0.5), CATEGORIES, thresholds)
    paths = write_report(
        y_true,
        scores,
        CATEGORIES,
        thresholds,
        metrics,
        tmp_path / "report",
        title="Fine-tuned model",
        baseline=baseline,
    )

    for name in ("pr_curves", "calibration", "confusion"):
        assert paths[name].read_bytes().startswith(b"\x89PNG")
    page = paths["report"].read_text(encoding="utf-8")
    assert '<table class="metrics">' in page and "Lift PR-AUC" in page
    assert f"<td>hate</td><td>{thresholds['hate']:.3f}</td>" in page
    assert f"{metrics['macro']['pr_auc']:.3f}" in page
    lift = metrics["per_category"]["spam"]["pr_auc"] - baseline["per_category"]["spam"]["pr_auc"]
    assert f"{lift:+.3f}" in page
    assert page.count('src="data:image/png;base64,') == 3 and 'src="http' not in page


def test_report_without_baseline_has_no_lift_column(tmp_path):
    y_true, scores = noisy_problem(rows=50)
    thresholds = {"hate": 0.5, "spam": 0.5}
    metrics = compute_metrics(y_true, scores, CATEGORIES, thresholds)
    paths = write_report(y_true, scores, CATEGORIES, thresholds, metrics, tmp_path, title="t")
    page = paths["report"].read_text(encoding="utf-8")
    assert '<table class="metrics">' in page and "Lift" not in page


def test_each_source_is_scored_on_the_categories_it_labels(tmp_path):
    y_true, scores = noisy_problem(rows=300)
    sources = np.array(["forum"] * 200 + ["ads"] * 100)
    y_true[200:, 0] = NAN  # the ads source labels spam only
    thresholds = {"hate": 0.5, "spam": 0.5}
    metrics = compute_metrics(y_true, scores, CATEGORIES, thresholds)
    metrics["by_source"] = metrics_by_source(y_true, scores, CATEGORIES, thresholds, sources)
    ads = metrics["by_source"]["ads"]
    assert list(ads["per_category"]) == ["spam"] and ads["rows"] == 100
    alone = compute_metrics(y_true[200:, 1:], scores[200:, 1:], ["spam"], thresholds)
    assert ads["per_category"]["spam"] == alone["per_category"]["spam"]
    flat = flat_metrics(metrics)
    assert flat["source.ads.spam.pr_auc"] == alone["per_category"]["spam"]["pr_auc"]
    assert "source.ads.hate.pr_auc" not in flat and "source.forum.hate.pr_auc" in flat
    paths = write_report(y_true, scores, CATEGORIES, thresholds, metrics, tmp_path, title="t")
    page = paths["report"].read_text(encoding="utf-8")
    assert "<h3>ads (100 test rows)</h3>" in page and paths["sources"].is_file()


def test_one_source_has_no_per_source_figures():
    y_true, scores = noisy_problem(rows=50)
    sources = np.array(["only"] * 50)
    assert metrics_by_source(y_true, scores, CATEGORIES, {"hate": 0.5, "spam": 0.5}, sources) == {}


def test_a_target_under_the_base_rate_is_called_out():
    labels = np.array([1, 1, 1, 0, 1, 1, 0, 1])[:, None].astype(float)
    scores = np.linspace(0.9, 0.1, 8)[:, None]
    choice = choose_thresholds(labels, scores, ["offensive"], {"offensive": 0.7}, {})
    assert choice["offensive"]["base_rate"] == 0.75
    assert choice["offensive"]["rule"] == "target precision, at or under the base rate"
