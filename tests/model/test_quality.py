"""Every evaluation runs the behavioural suite and, where the test split names identity terms,
identity-term bias; both reach the flat metrics for MLflow and KFP."""

import numpy as np
import pandas as pd
import pytest

from components.config import EvaluateConfig
from components.data.canonical import Category, Taxonomy
from components.model.metrics import evaluate_scorer, flat_metrics
from components.model.report import write_report

TAXONOMY = Taxonomy(
    categories=[
        Category(name="hate", description="Hatred of a group."),
        Category(name="toxic", description="Rude or abusive."),
    ]
)
TERMS = ("gay", "muslim", "tall")


def keyword_scorer(biased_term: str | None = None):
    """'hate'/'awful' make a text hateful and toxic; ``biased_term`` alone raises both a bit."""

    def predict(texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            lowered = text.lower()
            score = 0.9 if ("hate" in lowered or "awful" in lowered) else 0.1
            if biased_term and biased_term in lowered:
                score = min(score + 0.85, 0.99)
            rows.append([score, score])
        return np.array(rows)

    return predict


def frame(split: str, with_identities: bool) -> pd.DataFrame:
    texts = [f"I hate {n} things" for n in range(10)] + [f"I like {n} things" for n in range(10)]
    rows = pd.DataFrame(
        {
            "id": [f"{split}-{i}" for i in range(20)],
            "text": texts,
            "source": "forum",
            "label_hate": pd.array([1] * 10 + [0] * 10, dtype="Int8"),
            "label_toxic": pd.array([1] * 10 + [0] * 10, dtype="Int8"),
        }
    )
    if not with_identities:
        return rows
    sentences = [
        (term, f"{term} people are {word}", int(word == "awful"))
        for term in TERMS
        for word in ("awful", "lovely") * 6
    ]
    madlibs = pd.DataFrame(
        {
            "id": [f"madlib-{i}" for i in range(len(sentences))],
            "text": [text for _, text, _ in sentences],
            "source": "bias-madlibs",
            "label_hate": pd.array([None] * len(sentences), dtype="Int8"),
            "label_toxic": pd.array([label for *_, label in sentences], dtype="Int8"),
            "identity": [term for term, *_ in sentences],
        }
    )
    return pd.concat([rows, madlibs], ignore_index=True)


def evaluate(predict, with_identities=True, taxonomy=TAXONOMY):
    parts = {"validation": frame("validation", False), "test": frame("test", with_identities)}
    return evaluate_scorer(predict, parts, taxonomy, EvaluateConfig(min_threshold_positives=2))


def test_the_behavioural_suite_runs_at_the_chosen_thresholds_and_reaches_the_flat_metrics():
    result = evaluate(keyword_scorer())
    behaviour = result["metrics"]["quality"]["behaviour"]
    assert behaviour["overall"]["cases"] > 100
    assert behaviour["functionalities"]["safe content"]["accuracy"] == 1.0
    flat = flat_metrics(result["metrics"])
    assert flat["behaviour.overall.accuracy"] == behaviour["overall"]["accuracy"]
    assert "behaviour.hard_negative_counter_speech.accuracy" in flat


def test_identity_bias_finds_the_term_a_scorer_is_biased_against():
    fair = evaluate(keyword_scorer())["metrics"]["quality"]["bias"]
    biased = evaluate(keyword_scorer("muslim"))["metrics"]["quality"]["bias"]
    assert set(fair) == {"hate", "toxic"}  # hate always, toxic as the set's own label
    assert fair["toxic"]["identities"]["muslim"]["bpsn_auc"] == pytest.approx(1.0)
    assert biased["toxic"]["worst"][0] == "muslim"
    assert biased["toxic"]["identities"]["muslim"]["fpr"] == 1.0
    assert biased["toxic"]["identities"]["tall"]["fpr"] == 0.0
    flat = flat_metrics(evaluate(keyword_scorer("muslim"))["metrics"])
    assert flat["bias.toxic.muslim.bpsn_auc"] < 0.5


def test_a_scorer_without_the_sets_category_is_measured_on_hate():
    hate_only = Taxonomy(categories=TAXONOMY.categories[:1])
    predict = keyword_scorer("gay")
    result = evaluate(lambda texts: predict(texts)[:, :1], taxonomy=hate_only)
    bias = result["metrics"]["quality"]["bias"]
    assert list(bias) == ["hate"] and bias["hate"]["worst"][0] == "gay"


def test_without_identity_rows_the_bias_section_says_why():
    quality = evaluate(keyword_scorer(), with_identities=False)["metrics"]["quality"]
    assert quality["bias"] == {} and "bias-madlibs" in quality["bias_skipped"]


def report_page(result: dict, directory, name: str) -> str:
    """The HTML report of an evaluate_scorer result, written to ``directory``."""
    args = result["y_true"], result["scores"], TAXONOMY.names, result["thresholds"]
    return write_report(*args, result["metrics"], directory, name)["report"].read_text()


def test_the_report_shows_thresholds_behaviour_and_bias(tmp_path):
    result = evaluate(keyword_scorer("muslim"))
    page = report_page(result, tmp_path, "keyword scorer")
    for heading in ("Thresholds", "Behavioural suite", "Identity-term bias: toxic"):
        assert heading in page
    assert "muslim" in page and "hard negative: counter-speech" in page
    assert (tmp_path / "behaviour.png").stat().st_size > 10_000


def scores_in_text(texts: list[str]) -> np.ndarray:
    """A text 'score 0.8 ...' scores 0.8 in both categories; any other text 0.1."""
    return np.array([[float(t.split()[1]) if t.startswith("score ") else 0.1] * 2 for t in texts])


def validation_with_a_synthetic_source() -> pd.DataFrame:
    """hate: the forum's 10 positives score 0.8 and 6 of its negatives 0.75, the seed corpus's
    20 positives 0.9 and 20 negatives 0.1; toxic: only the seed corpus labels it."""
    scored = [("forum", 0.8, 1)] * 10 + [("forum", 0.75, 0)] * 6
    scored += [("seed", 0.9, 1)] * 20 + [("seed", 0.1, 0)] * 20
    return pd.DataFrame(
        {
            "id": [f"v-{i}" for i in range(len(scored))],
            "text": [f"score {score} row {i}" for i, (_, score, _) in enumerate(scored)],
            "source": [source for source, *_ in scored],
            "label_hate": pd.array([label for *_, label in scored], dtype="Int8"),
            "label_toxic": pd.array(
                [label if source == "seed" else None for source, _, label in scored], dtype="Int8"
            ),
        }
    )


@pytest.mark.parametrize("left_out", [[], ["seed"]])
def test_cutoffs_can_be_chosen_without_a_synthetic_source(left_out, tmp_path):
    parts = {"validation": validation_with_a_synthetic_source(), "test": frame("test", False)}
    config = EvaluateConfig(min_threshold_positives=2, cutoffs_without=left_out)
    result = evaluate_scorer(scores_in_text, parts, TAXONOMY, config)
    choices = result["metrics"]["thresholds"]
    # With the seed corpus, 0.75 reaches precision 0.8 (30 of 36); the forum alone needs 0.8.
    assert result["thresholds"]["hate"] == (0.8 if left_out else 0.75)
    assert choices["hate"]["chosen_without"] == left_out
    assert choices["hate"]["validation_positives"] == (10 if left_out else 30)
    # toxic has no positive outside the seed corpus: chosen on it, and said so.
    assert result["thresholds"]["toxic"] == 0.9 and choices["toxic"]["chosen_without"] == []
    page = report_page(result, tmp_path, "scores in text")
    assert "Chosen without" in page and ("<td>seed</td>" in page) == bool(left_out)
