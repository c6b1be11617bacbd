"""The behavioural suite: deterministic cases for each functionality, and run_suite's scoring of
mft, inv and dir cases against a fake model (a keyword scorer or a table of scores)."""

import re
from collections import Counter

import numpy as np
import pytest

from components.data.obfuscate import ZERO_WIDTH, _homoglyph_table
from components.errors import ModpipeError
from components.model.behaviour import (
    Case,
    build_suite,
    run_suite,
    suite_training_rows,
)
from components.model.behaviour_templates import KEY_SLOTS, SLOTS
from components.model.quality import flat_behaviour_metrics, metric_slug

STARTER = ["hate", "harassment", "violence", "self_harm", "sexual", "spam", "toxic", "profanity"]
ABUSE_IN_STARTER = {"hate", "harassment", "violence", "self_harm", "toxic"}
HARD_NEGATIVES = (
    "hard negative: neutral identity statement",
    "hard negative: positive identity statement",
    "hard negative: counter-speech",
    "hard negative: quoting abuse to report it",
    "hard negative: negated abuse",
    "hard negative: reclaimed in-group use",
    "hard negative: homonyms",
    "hard negative: profanity that is not abuse",
    "safe content",
)
OBFUSCATIONS = (
    "obfuscated: leetspeak",
    "obfuscated: spacing",
    "obfuscated: separators",
    "obfuscated: character swap",
    "obfuscated: homoglyphs",
    "obfuscated: zero-width",
)


@pytest.fixture(scope="module")
def starter_suite() -> list[Case]:
    return build_suite(STARTER, seed=0)


def by_functionality(cases: list[Case]) -> dict[str, list[Case]]:
    grouped: dict[str, list[Case]] = {}
    for case in cases:
        grouped.setdefault(case.functionality, []).append(case)
    return grouped


def keyword_scorer(categories: list[str]):
    """A fake model: 0.9 for a category when the text holds one of its key words as written,
    else 0.1; it records each call's texts."""
    patterns = {
        c: re.compile(
            r"\b(?:" + "|".join(re.escape(v) for s in KEY_SLOTS[c] for v in SLOTS[s]) + r")\b",
            re.IGNORECASE,
        )
        for c in categories
    }
    calls = []

    def predict(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.array(
            [[0.9 if patterns[c].search(t) else 0.1 for c in categories] for t in texts]
        )

    return predict, calls


def test_the_same_seed_gives_the_same_cases(starter_suite):
    assert build_suite(STARTER, seed=0) == starter_suite
    assert build_suite(STARTER, seed=1) != starter_suite


def test_a_categorys_cases_do_not_depend_on_the_others():
    alone = [c for c in build_suite(["hate"], seed=3) if c.functionality == "explicit hate"]
    among = [c for c in build_suite(STARTER, seed=3) if c.functionality == "explicit hate"]
    assert alone == among


def test_the_starter_suite_is_sized_and_built_from_every_group(starter_suite):
    assert 600 <= len(starter_suite) <= 1500
    counts = Counter(case.functionality for case in starter_suite)
    assert all(15 <= n <= 40 for n in counts.values()), counts
    kinds = Counter(case.kind for case in starter_suite)
    assert set(kinds) == {"mft", "inv", "dir"}


def test_every_templated_category_gets_explicit_cases(starter_suite):
    grouped = by_functionality(starter_suite)
    for category in STARTER:
        cases = grouped[f"explicit {category}"]
        assert len(cases) >= 15
        assert all(case.kind == "mft" and case.expect == {category: True} for case in cases)
        assert len({case.text for case in cases}) == len(cases)


def test_hard_negatives_cover_each_functionality_and_expect_no_abuse(starter_suite):
    grouped = by_functionality(starter_suite)
    for name in HARD_NEGATIVES:
        assert len(grouped[name]) >= 15, name
    for name in HARD_NEGATIVES[:7]:
        for case in grouped[name]:
            assert case.expect == dict.fromkeys(ABUSE_IN_STARTER, False), name
    for case in grouped["hard negative: profanity that is not abuse"]:
        assert case.expect == {"hate": False, "harassment": False, "violence": False}
    for case in grouped["safe content"]:
        assert case.expect == dict.fromkeys(STARTER, False)


def test_expectations_name_only_the_runs_categories():
    cases = build_suite(["hate", "spam", "medical"], seed=0)
    named = {category for case in cases for category in case.expect}
    assert named == {"hate", "spam"}
    functionalities = {case.functionality for case in cases}
    assert "explicit hate" in functionalities and "explicit spam" in functionalities
    assert "directional: added threat raises violence" not in functionalities
    assert "hard negative: sex education" not in functionalities


def test_obfuscated_cases_differ_from_their_source_and_hide_in_unicode(starter_suite):
    grouped = by_functionality(starter_suite)
    explicit = {c.text for c in starter_suite if c.functionality.startswith("explicit")}
    for name in OBFUSCATIONS:
        cases = grouped[name]
        assert len(cases) >= 15, name
        assert not {case.text for case in cases} & explicit, name
        assert len({next(iter(case.expect)) for case in cases}) == len(STARTER), name
    for case in grouped["obfuscated: zero-width"]:
        assert any(mark in case.text for mark in ZERO_WIDTH)
        assert re.sub("|".join(ZERO_WIDTH), "", case.text) in explicit
    latin = {glyph: letter for letter, glyphs in _homoglyph_table().items() for glyph in glyphs}
    for case in grouped["obfuscated: homoglyphs"]:
        assert not case.text.isascii()
        assert "".join(latin.get(c, c) for c in case.text) in explicit


def test_invariance_and_directional_cases_change_the_text(starter_suite):
    for case in starter_suite:
        if case.kind in ("inv", "dir"):
            assert case.variant is not None and case.variant != case.text, case
            assert case.expect == {}
    directional = [c for c in starter_suite if c.kind == "dir"]
    assert {c.category for c in directional} == {"violence", "harassment"}
    assert all(c.variant.startswith(c.text + " ") for c in directional)
    swaps = [c for c in starter_suite if c.functionality.startswith("invariance: identity swap")]
    assert all(c.category is None for c in swaps)


def table_predict(table: dict[str, list[float]]):
    calls = []

    def predict(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.array([table[text] for text in texts])

    return predict, calls


def test_run_suite_scores_mft_inv_and_dir_cases():
    categories = ["hate", "violence"]
    thresholds = {"hate": 0.5, "violence": 0.6}
    predict, calls = table_predict(
        {
            "alpha": [0.9, 0.1],
            "alpha!": [0.8, 0.1],
            "beta": [0.2, 0.7],
            "beta?": [0.6, 0.7],
            "gamma": [0.1, 0.1],
            "gamma, I will hurt you": [0.1, 0.8],
        }
    )
    cases = [
        Case("explicit hate", "mft", "alpha", {"hate": True}),
        Case("explicit hate", "mft", "beta", {"hate": True, "violence": False}),
        Case("invariance: punctuation", "inv", "alpha", variant="alpha!"),
        Case("invariance: punctuation", "inv", "beta", variant="beta?"),
        Case("invariance: punctuation", "inv", "beta", variant="beta?", category="violence"),
        Case("directional: threat", "dir", "alpha", variant="alpha!", category="violence"),
        Case(
            "directional: threat",
            "dir",
            "gamma",
            variant="gamma, I will hurt you",
            category="violence",
        ),
    ]
    result = run_suite(predict, categories, thresholds, cases)
    assert len(calls) == 1 and sorted(calls[0]) == sorted(set(calls[0])) and len(calls[0]) == 6
    assert result["overall"] == {"accuracy": pytest.approx(4 / 7), "cases": 7, "passed": 4}
    mft, inv, dir_ = (
        result["functionalities"][name]
        for name in ("explicit hate", "invariance: punctuation", "directional: threat")
    )
    assert (mft["kind"], mft["group"], mft["cases"], mft["passed"]) == ("mft", "explicit", 2, 1)
    assert mft["failures"] == [
        {"text": "beta", "variant": None, "detail": "hate 0.20 < 0.50; violence 0.70 >= 0.60"}
    ]
    assert (inv["group"], inv["cases"], inv["passed"]) == ("invariance", 3, 2)
    assert inv["accuracy"] == pytest.approx(2 / 3)
    assert inv["failures"][0]["detail"] == "hate 0.20 < 0.50 -> hate 0.60 >= 0.50"
    assert (dir_["group"], dir_["passed"]) == ("directional", 1)
    assert dir_["failures"][0]["detail"] == "violence 0.10 -> 0.10, did not rise"
    assert result["skipped_categories"] == []


def test_run_suite_keeps_at_most_max_failures():
    predict, _ = table_predict({f"t{i}": [0.0] for i in range(5)})
    cases = [Case("explicit spam", "mft", f"t{i}", {"spam": True}) for i in range(5)]
    result = run_suite(predict, ["spam"], {"spam": 0.5}, cases, max_failures=2)
    entry = result["functionalities"]["explicit spam"]
    assert (entry["cases"], entry["passed"], len(entry["failures"])) == (5, 0, 2)


def test_run_suite_refuses_missing_thresholds_and_misshapen_scores():
    cases = [Case("explicit spam", "mft", "buy now", {"spam": True})]
    with pytest.raises(ModpipeError, match="threshold"):
        run_suite(lambda texts: np.zeros((1, 1)), ["spam"], {}, cases)
    with pytest.raises(ModpipeError, match="shape"):
        run_suite(lambda texts: np.zeros((1, 2)), ["spam"], {"spam": 0.5}, cases)


def test_a_keyword_model_passes_explicit_cases_and_fails_obfuscated_ones():
    categories = ["hate", "violence", "medical"]
    cases = build_suite(categories, seed=0)
    predict, calls = keyword_scorer(["hate", "violence"])
    result = run_suite(
        lambda texts: np.column_stack([predict(texts), np.zeros(len(texts))]),
        categories,
        dict.fromkeys(categories, 0.5),
        cases,
    )
    texts = calls[0]
    assert len(calls) == 1 and len(texts) == len(set(texts))
    assert set(texts) == {t for c in cases for t in (c.text, c.variant) if t is not None}
    functionalities = result["functionalities"]
    for name in (
        "explicit hate",
        "explicit violence",
        "safe content",
        "hard negative: neutral identity statement",
        "invariance: identity swap in neutral text",
        "invariance: benign typo",
        "invariance: punctuation and casing",
    ):
        assert functionalities[name]["accuracy"] == 1.0, name
    for name in ("obfuscated: spacing", "obfuscated: zero-width"):
        assert functionalities[name]["accuracy"] == 0.0, name
        assert len(functionalities[name]["failures"]) == 3
    assert functionalities["hard negative: counter-speech"]["accuracy"] < 1.0
    assert result["skipped_categories"] == ["medical"]
    groups = {entry["group"] for entry in functionalities.values()}
    assert groups == {"explicit", "obfuscation", "hard negative", "invariance", "directional"}
    assert result["overall"]["cases"] == len(cases)
    passed = sum(entry["passed"] for entry in functionalities.values())
    assert result["overall"]["accuracy"] == pytest.approx(passed / len(cases))


def test_flat_metric_names(starter_suite):
    assert metric_slug("obfuscated: zero-width") == "obfuscated_zero_width"
    assert metric_slug("Hard negative: counter-speech!") == "hard_negative_counter_speech"
    predict, _ = keyword_scorer(STARTER)
    result = run_suite(predict, STARTER, dict.fromkeys(STARTER, 0.5), starter_suite)
    metrics = flat_behaviour_metrics(result)
    assert metrics["behaviour.overall.accuracy"] == result["overall"]["accuracy"]
    assert metrics["behaviour.explicit_self_harm.accuracy"] == 1.0
    assert "behaviour.obfuscated_zero_width.accuracy" in metrics
    assert "behaviour.hard_negative_profanity_that_is_not_abuse.accuracy" in metrics
    assert len(metrics) == len(result["functionalities"]) + 1
    assert all(re.fullmatch(r"behaviour\.[a-z0-9_]+\.accuracy", name) for name in metrics)


def test_suite_training_rows_label_mft_cases_only(starter_suite):
    rows = suite_training_rows(starter_suite, STARTER + ["medical"])
    mft = [case for case in starter_suite if case.kind == "mft"]
    assert len(rows) == len({case.text for case in mft})
    assert rows["id"].tolist()[:2] == ["behaviour-0", "behaviour-1"]
    assert set(rows["source"]) == {"behaviour-suite"} and set(rows["split"]) == {"train"}
    assert rows["label_medical"].isna().all()
    first = rows.set_index("text").loc[mft[0].text]
    assert first["label_hate"] == 1 and first[["label_spam", "label_toxic"]].isna().all()
    safe = next(case for case in mft if case.functionality == "safe content")
    assert rows.set_index("text").loc[safe.text, [f"label_{c}" for c in STARTER]].eq(0).all()
    assert str(rows["label_hate"].dtype) == "Int64"
