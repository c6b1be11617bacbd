"""Label Studio's JSON export -> canonical rows with rationales, merged into a dataset.

Each task made by ``modpipe annotate export`` becomes one row (its ``item_id``); each of its
annotations (skipped ones aside) one :class:`~components.data.rationale.Judgement`: the
annotator (``labelstudio:<user id>``), the seconds spent (Label Studio's ``lead_time``), the
policy version of the task, per category the decision and the reasoning steps, and the spans.

- ``labels``: per category, the majority of the annotators' decisions (a tie is a 1); unsure
  is no vote, and a category nobody decided is null;
- ``soft_labels``: the share of decided annotators who said violates; ``agreement``: the share
  on the majority side, averaged over the decided categories (components/data/annotated.py);
- ``rationale.evidence``: the annotators' spans, identical ones merged with their count.

Label Studio's offsets should be Python slices of the text; where a span's quoted text shows it
counted UTF-16 code units instead (a text with emoji), they are converted. An export that is
not ours, or any task that breaks the rules, is refused whole with the task named: nothing is
imported.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from components.annotation.labelstudio_config import TEXT_OBJECT, Control, read_control
from components.data.annotated import agreement, majority_labels, soft_labels
from components.data.canonical import (
    DatasetCard,
    Taxonomy,
    frame_from_records,
    read_text,
    records_from_frame,
)
from components.data.rationale import (
    DECISIONS,
    CategoryJudgement,
    EvidenceSpan,
    Judgement,
    Rationale,
    Reasoning,
    dump_rationale,
)
from components.errors import ModpipeError

KINDS = {"decision": "choices", "evidence": "labels", "reasoning": "textarea"}
VOTES = {"violates": 1.0, "does_not_violate": 0.0}  # unsure: no vote
SOURCE = "labelstudio"


@dataclass(frozen=True)
class AnnotatedItem:
    item_id: str
    text: str
    source: str
    asked: list[str]  # the categories the task asked about
    judgements: list[Judgement]


def read_export(path: Path) -> list[dict]:
    """The tasks of a Label Studio JSON export (a list of objects)."""
    try:
        tasks = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise ModpipeError(f"{path}: not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(tasks, list):
        raise ModpipeError(
            f"{path}: a Label Studio JSON export is a list of tasks, not {type(tasks).__name__}"
        )
    for number, task in enumerate(tasks, start=1):
        if not isinstance(task, dict):
            raise ModpipeError(f"{path}: item {number} of the list is not a task (an object)")
    return tasks


def annotated_items(tasks: list[dict], categories: list[str], origin: str) -> list[AnnotatedItem]:
    """The tasks with at least one submitted annotation; a ModpipeError names the first task at
    fault."""
    items, seen = [], {}
    for task in tasks:
        where = f"{origin}: task {task.get('id', '?')}"
        try:
            item = _item(task, categories)
        except ValueError as err:
            raise ModpipeError(f"{where}: {err}") from None
        if item is None:
            continue
        if item.item_id in seen:
            raise ModpipeError(f"{where}: item {item.item_id!r} is also task {seen[item.item_id]}")
        seen[item.item_id] = task.get("id", "?")
        items.append(item)
    return items


def _item(task: dict, categories: list[str]) -> AnnotatedItem | None:
    data = task.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("item_id"), str):
        raise ValueError("no item_id in its data: not a task of 'modpipe annotate export'")
    text = data.get(TEXT_OBJECT)
    if not isinstance(text, str) or not text:
        raise ValueError(f"item {data['item_id']!r} has no text")
    asked = data.get("categories", categories)
    if not isinstance(asked, list) or not asked:
        raise ValueError(f"its data's categories are {asked!r}, not a list of categories")
    unknown = [name for name in asked if name not in categories]
    if unknown:
        raise ValueError(f"unknown categories {unknown} (the dataset's: {', '.join(categories)})")
    annotations = task.get("annotations") or []
    if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
        raise ValueError("its annotations are not a list of objects")
    annotations = [a for a in annotations if not a.get("was_cancelled")]
    if not annotations:
        return None
    judgements = []
    for annotation in annotations:
        try:
            judgements.append(_judgement(annotation, text, asked, categories, data))
        except ValueError as err:
            raise ValueError(f"annotation {annotation.get('id', '?')}: {err}") from None
    source = data.get("source") if isinstance(data.get("source"), str) else SOURCE
    return AnnotatedItem(data["item_id"], text, source, list(asked), judgements)


def _judgement(
    annotation: dict, text: str, asked: list[str], categories: list[str], data: dict
) -> Judgement:
    decisions, reasons, spans = {}, {}, []
    results = annotation.get("result") or []
    if not isinstance(results, list):
        raise ValueError("its result is not a list")
    for result in results:
        control = _control(result, categories)
        value = result["value"]
        if control.kind == "decision":
            if control.category in decisions:
                raise ValueError(f"two decisions for {control.category}")
            decisions[control.category] = _decision(value, control.category)
        elif control.kind == "reasoning":
            lines = value.get("text") or []
            reasons.setdefault(control.category, {})[control.step] = "\n".join(map(str, lines))
        else:
            spans += _spans(value, text, categories)
    undecided = [name for name in asked if name not in decisions]
    if undecided:
        raise ValueError(f"no decision for {', '.join(undecided)}")
    judged = {
        name: CategoryJudgement(
            decision=decision, reasoning=Reasoning(**reasons[name]) if reasons.get(name) else None
        )
        for name, decision in decisions.items()
    }
    try:
        return Judgement(
            annotator=_annotator(annotation.get("completed_by")),
            policy_version=data.get("policy_version"),
            seconds=annotation.get("lead_time"),
            categories=judged,
            evidence=spans,
        )
    except ValidationError as err:
        problems = (e["msg"].removeprefix("Value error, ") for e in err.errors())
        raise ValueError("; ".join(problems)) from None


def _control(result: dict, categories: list[str]) -> Control:
    if not isinstance(result, dict) or not isinstance(result.get("value"), dict):
        raise ValueError("a result without a value object: not a Label Studio export")
    control = read_control(str(result.get("from_name")), categories)
    if result.get("to_name") != TEXT_OBJECT or result.get("type") != KINDS[control.kind]:
        raise ValueError(
            f"a {result.get('type')!r} result from {result.get('from_name')!r} to "
            f"{result.get('to_name')!r}: not modpipe's labeling config"
        )
    return control


def _decision(value: dict, category: str) -> str:
    choices = value.get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or choices[0] not in DECISIONS:
        raise ValueError(f"the decision for {category} is {choices!r}, not one of {DECISIONS}")
    return choices[0]


def _spans(value: dict, text: str, categories: list[str]) -> list[EvidenceSpan]:
    start, end = _offsets(value, text)
    labels = value.get("labels")
    if not isinstance(labels, list) or not labels:
        raise ValueError(f"span {start}-{end} has no category")
    unknown = [label for label in labels if label not in categories]
    if unknown:
        raise ValueError(f"span {start}-{end} is evidence of unknown categories {unknown}")
    return [EvidenceSpan(start=start, end=end, type=label) for label in labels]


def _offsets(value: dict, text: str) -> tuple[int, int]:
    start, end = value.get("start"), value.get("end")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end):
        raise ValueError(f"span {start!r}-{end!r} is not a span of the text")
    quoted = value.get("text")
    if quoted is None or text[start:end] == quoted:
        if end > len(text):
            raise ValueError(f"span {start}-{end} reaches past the text ({len(text)} characters)")
        return start, end
    converted = _from_utf16(text, start, end)
    if converted is None or text[converted[0] : converted[1]] != quoted:
        raise ValueError(f"span {start}-{end}: its quoted text is not the text at those offsets")
    return converted


def _from_utf16(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Code-point offsets of a span given in UTF-16 code units (JavaScript's string indices)."""
    units = text.encode("utf-16-le")
    if 2 * end > len(units):
        return None
    try:
        return tuple(len(units[: 2 * at].decode("utf-16-le")) for at in (start, end))
    except UnicodeDecodeError:  # an offset inside a surrogate pair
        return None


def _annotator(completed_by) -> str:
    user = completed_by.get("id") if isinstance(completed_by, dict) else completed_by
    if not isinstance(user, int):
        raise ValueError("no completed_by: whose annotation is it?")
    return f"labelstudio:{user}"


def item_rows(items: list[AnnotatedItem], categories: list[str]) -> list[dict]:
    """Canonical records of ``items``, labelled for the categories each task asked about."""
    votes = [[_share(item, name) for name in categories] for item in items]
    shares = pd.DataFrame(votes, columns=categories, dtype=float)
    labels = majority_labels(shares)
    records = []
    for row, (item, soft, agreed) in enumerate(
        zip(items, soft_labels(shares), agreement(shares), strict=True)
    ):
        evidence = Counter(
            (span.start, span.end, span.type) for j in item.judgements for span in j.evidence
        )
        merged = [
            EvidenceSpan(start=start, end=end, type=kind, annotators=count)
            for (start, end, kind), count in sorted(evidence.items())
        ]
        rationale = Rationale(
            evidence=merged, judgements=item.judgements, annotators=len(item.judgements)
        )
        record = {"id": item.item_id, "text": item.text, "source": item.source}
        record["labels"] = {name: labels[name][row] for name in item.asked}
        records.append(
            record
            | {"agreement": agreed, "soft_labels": soft, "rationale": dump_rationale(rationale)}
        )
    return records


def _share(item: AnnotatedItem, category: str) -> float:
    judged = [j.categories[category] for j in item.judgements if category in j.categories]
    decided = [VOTES[c.decision] for c in judged if c.decision in VOTES]
    return float(np.mean(decided)) if decided else np.nan


def merge_rows(
    card: DatasetCard, frame: pd.DataFrame | None, records: list[dict], origin: str
) -> tuple[pd.DataFrame, int]:
    """``frame`` with ``records`` in: a row of the same id takes the new labels (of the
    categories asked), agreement, soft labels and rationale, and keeps the rest; other records
    are added at the end. Returns the frame and the number of rows replaced."""
    current = records_from_frame(frame, card.names) if frame is not None else []
    position = {record["id"]: number for number, record in enumerate(current)}
    replaced = 0
    for record in records:
        if record["id"] not in position:
            current.append(record)
            continue
        old = current[position[record["id"]]]
        if old["text"] != record["text"]:
            raise ModpipeError(
                f"{origin}: item {record['id']!r}: the dataset's row of that id has another "
                "text, so the spans would not fit it"
            )
        old["labels"] = old["labels"] | record["labels"]
        old.update({key: record[key] for key in ("agreement", "soft_labels", "rationale")})
        replaced += 1
    return frame_from_records(current), replaced


def new_card(name: str, taxonomy: Taxonomy) -> DatasetCard:
    return DatasetCard(
        name=name,
        source=SOURCE,
        categories=taxonomy.categories,
        description="Items annotated in Label Studio (modpipe annotate import): labels are the "
        "majority of the annotators' decisions, rationale their judgements and evidence spans.",
    )
