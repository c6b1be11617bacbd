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


def test_the_report_shows_thresholds_behaviour_and_bias(tmp_path):
    result = evaluate(keyword_scorer("muslim"))
    paths = write_report(
        result["y_true"],
        result["scores"],
        TAXONOMY.names,
        result["thresholds"],
        result["metrics"],
        tmp_path,
        "keyword scorer",
    )
    page = paths["report"].read_text()
    for heading in ("Thresholds", "Behavioural suite", "Identity-term bias: toxic"):
        assert heading in page
    assert "muslim" in page and "hard negative: counter-speech" in page
    assert (tmp_path / "behaviour.png").stat().st_size > 10_000
