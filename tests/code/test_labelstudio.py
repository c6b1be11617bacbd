"""The Label Studio round trip without a server: the labeling config made from a taxonomy, the
tasks `modpipe annotate export` writes, and `modpipe annotate import` of exports built here in
Label Studio's format, bad ones included (one line naming the task, nothing imported).
tests/model/test_labelstudio_roundtrip.py runs the same round trip through a real Label Studio."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from conftest import modpipe

from components.annotation.batch import policy_version
from components.annotation.labelstudio import ModelPredictions, label_studio_tasks
from components.annotation.labelstudio_config import STEPS, labeling_config, read_control
from components.annotation.labelstudio_import import annotated_items, item_rows, merge_rows
from components.data.canonical import (
    Category,
    DatasetCard,
    Taxonomy,
    read_dataset,
    write_dataset,
)
from components.data.rationale import Judgement, parse_rationale
from components.data.versioning import directory_md5
from components.errors import ModpipeError
from components.model.evidence import Span

TAXONOMY = Taxonomy(
    categories=[
        Category(name="insult", description="Insults a person."),
        Category(name="self_harm", description="Encourages self-harm."),
    ]
)
CATEGORIES = TAXONOMY.names
TEXT = "you clown, buy pills now"  # "clown" is 4-9, "pills" 15-20


def choice(category: str, decision: str) -> dict:
    value = {"choices": [decision]}
    return {
        "from_name": f"decision_{category}",
        "to_name": "text",
        "type": "choices",
        "value": value,
    }


def span(start: int, end: int, category: str, text: str = TEXT) -> dict:
    value = {"start": start, "end": end, "text": text[start:end], "labels": [category]}
    return {"from_name": "evidence", "to_name": "text", "type": "labels", "value": value}


def reason(category: str, step: str, words: str) -> dict:
    name = f"reason_{step}_{category}"
    return {"from_name": name, "to_name": "text", "type": "textarea", "value": {"text": [words]}}


def annotation(user: int, *result: dict, seconds: float = 4.0, **extra) -> dict:
    return {
        "id": user * 100,
        "completed_by": user,
        "result": list(result),
        "lead_time": seconds,
    } | extra


def task(number: int, *annotations: dict, text: str = TEXT) -> dict:
    data = {"item_id": f"i{number}", "text": text, "policy_version": "p1", "categories": CATEGORIES}
    return {"id": number, "data": data, "annotations": list(annotations)}


def decided(insult: str, self_harm: str = "does_not_violate") -> list[dict]:
    return [choice("insult", insult), choice("self_harm", self_harm)]


def test_the_config_has_per_category_decisions_steps_and_span_labels():
    view = ET.fromstring(labeling_config(TAXONOMY))
    assert [label.get("value") for label in view.iter("Label")] == CATEGORIES
    choices = {c.get("name"): c for c in view.iter("Choices")}
    assert set(choices) == {"decision_insult", "decision_self_harm"}
    assert all(c.get("required") == "true" and len(c) == 3 for c in choices.values())
    areas = [area.get("name") for area in view.iter("TextArea")]
    assert len(areas) == len(CATEGORIES) * len(STEPS) and "reason_policy_clause_self_harm" in areas
    names = [e.get("name") for e in view.iter() if e.get("toName")]
    controls = [read_control(name, CATEGORIES) for name in names]
    assert {(c.kind, c.category) for c in controls} >= {
        ("reasoning", "self_harm"),
        ("evidence", None),
    }
    with pytest.raises(ValueError, match="unknown category 'spam'"):
        read_control("decision_spam", CATEGORIES)
    with pytest.raises(ValueError, match="not in modpipe's labeling config"):
        read_control("sentiment", CATEGORIES)
    assert (
        policy_version(TAXONOMY)
        == policy_version(TAXONOMY.model_copy())
        != policy_version(TAXONOMY.subset(["insult"]))
    )


def test_tasks_carry_the_models_decisions_and_evidence_and_the_llm_draft():
    items = pd.DataFrame({"id": ["a", "b"], "text": [TEXT, "hello there"]})
    model = ModelPredictions(
        version="models:/m/3",
        categories=["self_harm", "insult"],  # another order than the taxonomy's
        thresholds={"insult": 0.5, "self_harm": 0.3},
        scores=np.array([[0.1, 0.9], [0.2, 0.4]]),
        evidence=[{"insult": [Span(4, 9, 0.8)]}, {}],
    )
    rationale = {
        "judgements": [
            {
                "annotator": "llm:tiny",
                "categories": {
                    "insult": {"decision": "violates", "reasoning": {"evidence": "calls a name"}}
                },
                "evidence": [{"start": 4, "end": 9, "type": "insult"}],
            }
        ]
    }
    drafts = {"a": parse_rationale(rationale).judgements[0]}
    tasks = label_studio_tasks(items, CATEGORIES, "p1", model, drafts)
    data = {"item_id": "a", "text": TEXT, "source": None, "policy_version": "p1"}
    assert tasks[0]["data"] == data | {"categories": CATEGORIES}
    by_model, by_llm = tasks[0]["predictions"]
    assert by_model["model_version"] == "models:/m/3" and by_model["score"] == 0.9
    assert [r["value"] for r in by_model["result"]] == [
        {"choices": ["violates"]},
        {"start": 4, "end": 9, "text": "clown", "labels": ["insult"]},
        {"choices": ["does_not_violate"]},
    ]
    assert by_llm["model_version"] == "llm:tiny"
    drafted = [r["from_name"] for r in by_llm["result"]]
    assert drafted == ["decision_insult", "reason_evidence_insult", "evidence"]
    second = tasks[1]["predictions"]
    assert len(second) == 1 and second[0]["score"] == 0.6  # 0.4 < 0.5: 60% sure it does not


def test_labels_are_the_majority_unsure_is_no_vote_and_spans_merge():
    reasoned = reason("insult", "policy_clause", "names")
    first = annotation(
        1, *decided("violates", "unsure"), span(4, 9, "insult"), reasoned, seconds=12.5
    )
    marks = [span(4, 9, "insult"), span(15, 20, "insult")]
    second = annotation(2, *decided("violates", "unsure"), *marks)
    third = annotation(3, *decided("does_not_violate", "unsure"))
    skipped = annotation(4, *decided("violates"), was_cancelled=True)  # not a judgement
    tasks = [task(1, first, second, third, skipped), task(2)]  # nobody annotated task 2
    items = annotated_items(tasks, CATEGORIES, "export.json")
    assert [item.item_id for item in items] == ["i1"]
    (record,) = item_rows(items, CATEGORIES)
    assert record["labels"] == {"insult": 1, "self_harm": None}
    assert record["soft_labels"] == {"insult": round(2 / 3, 4)}
    assert record["agreement"] == round(2 / 3, 4)
    rationale = parse_rationale(record["rationale"])
    assert [(s.start, s.end, s.annotators) for s in rationale.evidence] == [(4, 9, 2), (15, 20, 1)]
    assert rationale.annotators == 3  # the cancelled annotation judged nothing
    first = rationale.judgements[0]
    assert (first.annotator, first.policy_version, first.seconds) == ("labelstudio:1", "p1", 12.5)
    assert first.categories["insult"].reasoning.policy_clause == "names"
    assert first.categories["self_harm"].reasoning is None


def test_utf16_offsets_of_a_text_with_emoji_become_python_slices():
    text = "🙂🙂 you clown"  # Python: "clown" at 7-12; JavaScript (UTF-16 units): 9-14
    utf16 = span(9, 14, "insult", text)
    utf16["value"]["text"] = "clown"
    annotated = task(1, annotation(1, *decided("violates"), utf16), text=text)
    items = annotated_items([annotated], CATEGORIES, "export.json")
    (spans,) = [j.evidence for j in items[0].judgements]
    assert [(s.start, s.end) for s in spans] == [(7, 12)] and text[7:12] == "clown"


def test_merging_replaces_the_asked_labels_and_keeps_the_rest(tmp_path):
    card = DatasetCard(name="d", source="t", categories=TAXONOMY.categories)
    frame = pd.DataFrame(
        {"id": ["i1", "x"], "text": [TEXT, "other"], "source": "t", "split": ["train", "test"]}
    )
    frame["label_insult"] = pd.array([0, 0], dtype="Int8")
    frame["label_self_harm"] = pd.array([1, 0], dtype="Int8")
    asked_insult = task(1, annotation(1, choice("insult", "violates")))
    asked_insult["data"]["categories"] = ["insult"]
    fresh = task(2, annotation(1, *decided("unsure")))
    records = item_rows(annotated_items([asked_insult, fresh], CATEGORIES, "e"), CATEGORIES)
    merged, replaced = merge_rows(card, frame, records, "e")
    assert replaced == 1 and list(merged["id"]) == ["i1", "x", "i2"]
    write_dataset(tmp_path / "d", card, merged)
    _, back = read_dataset(tmp_path / "d")
    assert back.loc[0, ["label_insult", "label_self_harm", "split"]].tolist() == [1, 1, "train"]
    assert pd.isna(back.loc[2, "label_insult"]) and back.loc[2, "label_self_harm"] == 0
    changed = records[0] | {"text": "another text"}
    with pytest.raises(ModpipeError, match="'i1': the dataset's row of that id has another text"):
        merge_rows(card, frame, [changed], "e")


@pytest.fixture
def dataset(tmp_path):
    """A dataset folder (outside DVC) holding row i1, and its version's md5."""
    card = DatasetCard(name="d", source="t", categories=TAXONOMY.categories)
    frame = pd.DataFrame({"id": ["i1"], "text": [TEXT], "source": "t"})
    folder = write_dataset(tmp_path / "dataset", card, frame)
    return folder, directory_md5(folder)


def test_export_then_import_through_the_commands(dataset, tmp_path, capsys, monkeypatch):
    folder, _ = dataset
    pool = tmp_path / "batch.jsonl"
    pool.write_text(json.dumps({"id": "i1", "text": TEXT}) + '\n{"id": "i9", "text": "hi"}\n')
    drafts = tmp_path / "drafts.jsonl"
    judgement = {"annotator": "llm:tiny", "categories": {"insult": {"decision": "violates"}}}
    lines = [{"id": "i1", "rationale": {"judgements": [judgement]}}, {"id": "i9", "malformed": "x"}]
    drafts.write_text("".join(json.dumps(line) + "\n" for line in lines))
    taxonomy = tmp_path / "taxonomy.yaml"
    taxonomy.write_text(json.dumps(TAXONOMY.model_dump()))
    out = tmp_path / "out"
    args = ["annotate", "export", pool, "-o", out, "--drafts", drafts, "--taxonomy", taxonomy]
    code, output = modpipe(capsys, monkeypatch, *args)
    assert code == 0, output
    assert "2 tasks" in output and "1 items pre-annotated with an LLM draft" in output
    tasks = json.loads((out / "tasks.json").read_text())
    assert [len(t["predictions"]) for t in tasks] == [1, 0]
    ET.fromstring((out / "config.xml").read_text())

    tasks[0]["annotations"] = [annotation(1, *decided("violates"), span(4, 9, "insult"))]
    tasks[1]["annotations"] = [annotation(1, *decided("does_not_violate"))]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    code, output = modpipe(capsys, monkeypatch, "annotate", "import", export, "--into", folder)
    assert code == 0, output
    assert "2 annotated items from 2 tasks" in output and "1 added, 1 replaced" in output
    _, rows = read_dataset(folder)
    assert list(rows["id"]) == ["i1", "i9"] and rows["label_insult"].tolist() == [1, 0]


def one_annotation(*result: dict) -> list[dict]:
    """An export of one task, annotated once: insult violated, then ``result``."""
    return [task(1, annotation(1, *decided("violates"), *result))]


PAST_THE_END = span(20, 24, "insult") | {"value": {"start": 20, "end": 40, "labels": ["insult"]}}
IN_ANNOTATION = "task 1: annotation 100:"
BAD_EXPORTS = {
    "not JSON": ("[{", "not JSON"),
    "not a list": ({"tasks": []}, "a Label Studio JSON export is a list of tasks, not dict"),
    "another config": (
        one_annotation(choice("insult", "x") | {"from_name": "sentiment"}),
        f"{IN_ANNOTATION} control 'sentiment' is not in modpipe's labeling config",
    ),
    "span past the text": (
        one_annotation(PAST_THE_END),
        f"{IN_ANNOTATION} span 20-40 reaches past the text (24 characters)",
    ),
    "overlapping spans": (
        one_annotation(span(4, 9, "insult"), span(6, 12, "insult")),
        f"{IN_ANNOTATION} labelstudio:1's insult spans 4-9 and 6-12 overlap",
    ),
    "unknown span category": (
        one_annotation(span(4, 9, "weather")),
        f"{IN_ANNOTATION} span 4-9 is evidence of unknown categories ['weather']",
    ),
    "unknown decision category": (
        one_annotation(choice("weather", "violates")),
        f"{IN_ANNOTATION} control 'decision_weather' is for an unknown category 'weather'",
    ),
    "no decision": (
        [task(1, annotation(1, *decided("violates")), annotation(2, choice("insult", "unsure")))],
        "task 1: annotation 200: no decision for self_harm",
    ),
    "not our task": ([{"id": 5, "data": {"text": "x"}, "annotations": []}], "task 5: no item_id"),
}


@pytest.mark.parametrize("case", BAD_EXPORTS)
def test_a_bad_export_is_one_line_naming_the_task_and_imports_nothing(
    case, dataset, tmp_path, capsys, monkeypatch
):
    folder, md5 = dataset
    content, message = BAD_EXPORTS[case]
    export = tmp_path / "export.json"
    export.write_text(content if isinstance(content, str) else json.dumps(content))
    code, output = modpipe(capsys, monkeypatch, "annotate", "import", export, "--into", folder)
    assert code == 2 and message in output, output
    assert len(output.strip().splitlines()) == 1 and "Traceback" not in output
    assert directory_md5(folder) == md5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset", "export.json"]


def test_judgements_from_the_export_are_the_schemas():
    items = annotated_items([task(1, annotation(7, *decided("unsure")))], CATEGORIES, "e")
    assert isinstance(items[0].judgements[0], Judgement)
