"""The rationale schema: what a row's ``rationale`` may hold, checked on read and on write."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from components.data.canonical import DatasetCard, read_dataset, write_dataset
from components.data.rationale import check_rationale, dump_rationale, parse_rationale
from components.errors import ModpipeError

TEXT = "you are a clown and I will find you"
CATEGORIES = ["harassment", "violence"]
JUDGED = {
    "evidence": [{"start": 10, "end": 15, "type": "harassment", "annotators": 2}],
    "judgements": [
        {
            "annotator": "alice",
            "policy_version": "2026-11",
            "seconds": 12.5,
            "categories": {
                "harassment": {
                    "decision": "violates",
                    "reasoning": {
                        "policy_clause": "insults a specific person",
                        "evidence": "calls the reader a clown",
                        "context": "no quoting",
                        "decision": "violates",
                    },
                },
                "violence": {"decision": "unsure"},
            },
            "evidence": [{"start": 10, "end": 15, "type": "harassment"}],
        }
    ],
}


def test_a_full_rationale_round_trips_and_a_sentence_stays_a_sentence():
    rationale = check_rationale(JUDGED, TEXT, CATEGORIES)
    assert rationale.judgements[0].categories["harassment"].decision == "violates"
    assert TEXT[rationale.evidence[0].start : rationale.evidence[0].end] == "clown"
    assert parse_rationale(dump_rationale(rationale)) == rationale
    assert dump_rationale(parse_rationale("insults a person")) == "insults a person"


def test_a_span_s_share_is_of_the_annotators_who_judged_the_item():
    rationale = check_rationale({**JUDGED, "annotators": 4}, TEXT, CATEGORIES)
    assert rationale.share(rationale.evidence[0]) == 0.5  # 2 of 4
    assert parse_rationale(dump_rationale(rationale)) == rationale
    unknown = parse_rationale(JUDGED)  # how many judged is not known: the span counts whole
    assert unknown.share(unknown.evidence[0]) == 1.0
    assert unknown.share(unknown.judgements[0].evidence[0]) == 1.0


def _judged(**changes) -> dict:
    judgement = {**JUDGED["judgements"][0], **changes}
    return {**JUDGED, "judgements": [judgement]}


@pytest.mark.parametrize(
    ("rationale", "problem"),
    [
        ({**JUDGED, "evidence": [{"start": 30, "end": 40, "type": "harassment"}]}, "past the text"),
        ({**JUDGED, "evidence": [{"start": 5, "end": 5, "type": "harassment"}]}, "ends before"),
        ({**JUDGED, "evidence": [{"start": 1, "end": 4, "type": "spam"}]}, "no category here"),
        (_judged(categories={"spam": {"decision": "violates"}}), "unknown categories"),
        (_judged(categories={"violence": {"decision": "maybe"}}), "decision"),
        (_judged(categories={"violence": {}}), "decision"),
        (_judged(categories={}), "categories"),
        (
            _judged(
                evidence=[
                    {"start": 10, "end": 15, "type": "harassment"},
                    {"start": 12, "end": 19, "type": "harassment"},
                ]
            ),
            "overlap",
        ),
        ({**JUDGED, "annotators": 1}, "marked by 2 annotators, more than the 1 who judged"),
        ({**JUDGED, "annotators": 0}, "annotators"),
        ({**JUDGED, "verdict": "bad"}, "verdict"),
        (["a", "list"], "not list"),
    ],
)
def test_a_rationale_outside_the_schema_is_refused_with_the_reason(rationale, problem):
    with pytest.raises(ValueError, match=problem):
        check_rationale(rationale, TEXT, CATEGORIES)


def test_overlapping_spans_of_different_categories_or_annotators_are_allowed():
    spans = [
        {"start": 10, "end": 15, "type": "harassment"},
        {"start": 12, "end": 19, "type": "violence"},
    ]
    check_rationale(_judged(evidence=spans), TEXT, CATEGORIES)
    merged = [{"start": 10, "end": 15, "type": "harassment"}, {**spans[0], "start": 12}]
    check_rationale({"evidence": merged}, TEXT, CATEGORIES)


def _card() -> DatasetCard:
    return DatasetCard(
        name="tiny",
        source="test",
        categories=[{"name": name, "description": name} for name in CATEGORIES],
    )


def _frame(rationale) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": ["r1"], "text": [TEXT], "source": ["test"], "rationale": [rationale]}
    )


def test_writing_a_bad_rationale_names_the_row_and_writes_nothing(tmp_path):
    bad = {"evidence": [{"start": 0, "end": 99, "type": "harassment"}]}
    with pytest.raises(ModpipeError, match="row 'r1': rationale: .*past the text"):
        write_dataset(tmp_path / "out", _card(), _frame(bad))
    assert not (tmp_path / "out").exists()


def test_reading_a_bad_rationale_names_the_row(tmp_path):
    folder = write_dataset(tmp_path / "ok", _card(), _frame(JUDGED))
    assert read_dataset(folder)[1]["rationale"][0] == JUDGED
    row = json.loads((folder / "rows.jsonl").read_text())
    row["rationale"]["judgements"][0]["categories"]["violence"]["decision"] = "maybe"
    (folder / "rows.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(ModpipeError, match="rows.jsonl: row 'r1': rationale: .*decision"):
        read_dataset(folder)
