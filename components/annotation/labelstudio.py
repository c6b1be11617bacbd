"""Label Studio tasks for a batch of items, pre-annotated so that annotators correct rather than
start from nothing.

Each task's data holds the item (``item_id``, ``text``, ``source``), the ``policy_version`` it
is judged against and the ``categories`` asked about. Its ``predictions`` are, in Label
Studio's result format for the config of components/annotation/labelstudio_config.py:

- the model's (``model_version`` names it): per category a decision (violates where the score
  reaches the category's threshold, else does_not_violate) scored by its confidence, and the
  evidence spans of each flagged category with their scores; the prediction's own score is its
  least confident decision, so Label Studio's uncertainty sampling shows doubtful items first;
- each LLM draft's (``model_version`` names the backend, ``llm:MODEL``): its decisions, its
  reasoning steps and its evidence spans.

Offsets are Python slices of the text (code points), as everywhere in the project.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from components.annotation.labelstudio_config import (
    EVIDENCE_CONTROL,
    STEPS,
    TEXT_OBJECT,
    decision_control,
    reasoning_control,
)
from components.data.rationale import EvidenceSpan, Judgement

SCORE_DECIMALS = 4


class Span(Protocol):
    """An evidence span as components/model/evidence.py gives it."""

    start: int
    end: int
    score: float


@dataclass(frozen=True)
class ModelPredictions:
    """A model's view of the items: ``scores`` [n, k] in ``categories`` order, and per item the
    evidence spans of each flagged category (None: no evidence)."""

    version: str
    categories: list[str]
    thresholds: Mapping[str, float]
    scores: np.ndarray
    evidence: Sequence[Mapping[str, Sequence[Span]]] | None = None


def label_studio_tasks(
    items: pd.DataFrame,
    categories: list[str],
    policy_version: str,
    model: ModelPredictions | None = None,
    drafts: Mapping[str, Judgement] | None = None,
) -> list[dict]:
    """Tasks in Label Studio's import format for ``items`` (``id``, ``text``, optional
    ``source``); ``drafts``: item id -> an LLM's judgement of it."""
    tasks = []
    for row, (item_id, text, source) in enumerate(_items(items)):
        predictions = []
        if model is not None:
            evidence = model.evidence[row] if model.evidence is not None else {}
            predictions.append(_model_prediction(model, row, text, categories, evidence))
        if drafts and item_id in drafts:
            predictions.append(_draft_prediction(drafts[item_id], text, categories))
        data = {
            "item_id": item_id,
            TEXT_OBJECT: text,
            "source": source,
            "policy_version": policy_version,
            "categories": categories,
        }
        tasks.append({"data": data, "predictions": predictions})
    return tasks


def _items(items: pd.DataFrame):
    sources = items["source"] if "source" in items else [None] * len(items)
    for item_id, text, source in zip(items["id"], items["text"], sources, strict=True):
        yield str(item_id), str(text), source if isinstance(source, str) else None


def _model_prediction(
    model: ModelPredictions,
    row: int,
    text: str,
    categories: list[str],
    evidence: Mapping[str, Sequence[Span]],
) -> dict:
    result, confidences = [], []
    for category in categories:
        if category not in model.categories:
            continue
        score = float(model.scores[row, model.categories.index(category)])
        violates = score >= model.thresholds[category]
        confidence = score if violates else 1.0 - score
        confidences.append(confidence)
        decision = "violates" if violates else "does_not_violate"
        result.append(_decision(category, decision, confidence))
        for span in evidence.get(category, []):
            result.append(_span(text, span.start, span.end, category, span.score))
    least_sure = min(confidences, default=0.0)
    return {
        "model_version": model.version,
        "score": round(least_sure, SCORE_DECIMALS),
        "result": result,
    }


def _draft_prediction(judgement: Judgement, text: str, categories: list[str]) -> dict:
    result = []
    for category in categories:
        judged = judgement.categories.get(category)
        if judged is None:
            continue
        result.append(_decision(category, judged.decision))
        reasoning = judged.reasoning.model_dump() if judged.reasoning else {}
        for step in STEPS:
            if reasoning.get(step):
                result.append(_textarea(reasoning_control(category, step), reasoning[step]))
    result += [_evidence(text, span) for span in judgement.evidence if span.type in categories]
    return {"model_version": judgement.annotator, "result": result}


def _decision(category: str, decision: str, score: float | None = None) -> dict:
    value = {"choices": [decision]}
    return _result(decision_control(category), "choices", value, score)


def _textarea(name: str, text: str) -> dict:
    return _result(name, "textarea", {"text": [text]})


def _evidence(text: str, span: EvidenceSpan) -> dict:
    return _span(text, span.start, span.end, span.type)


def _span(text: str, start: int, end: int, category: str, score: float | None = None) -> dict:
    value = {"start": start, "end": end, "text": text[start:end], "labels": [category]}
    return _result(EVIDENCE_CONTROL, "labels", value, score)


def _result(name: str, kind: str, value: dict, score: float | None = None) -> dict:
    result = {"from_name": name, "to_name": TEXT_OBJECT, "type": kind, "value": value}
    if score is not None:
        result["score"] = round(float(score), SCORE_DECIMALS)
    return result
