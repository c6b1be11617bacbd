"""How well a model's evidence agrees with the annotators', in every evaluation of a model with an
evidence head: over the test rows whose rationale marks evidence spans, the mean per-row F1 of
the characters the service would answer with against the characters the annotators marked, as
SemEval-2021 Task 5 (Toxic Spans) scores a post.

Both sides are category-blind: the gold is the union of a row's spans, the prediction the union
of every category's evidence spans at the service's cut-off (components.model.evidence: whole
words, consecutive ones joined). Rows without spans are left out: in the canonical data the
absence of spans says nothing (the head's training masks them alike), where SemEval's test split
counts a post without gold spans as 1 only when nothing is predicted. The evidence benchmark
(benchmarks/evidence.py) scores the SemEval way, at a threshold chosen on its trial split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from components.model.evidence import CUTOFF, evidence_spans, words_of
from components.model.evidence_report import gold_evidence


def character_f1(predicted: set[int], gold: set[int]) -> float:
    """SemEval-2021 Task 5's per-post F1 of character offsets (1 when both are empty)."""
    if not gold:
        return 1.0 if not predicted else 0.0
    if not predicted:
        return 0.0
    return 2 * len(predicted & gold) / (len(predicted) + len(gold))


def _answered(text: str, matrix: np.ndarray) -> set[int]:
    """The characters of every category's evidence spans at the service's cut-off."""
    words = words_of(text)
    return {
        offset
        for column in range(matrix.shape[1])
        for span in evidence_spans(words, matrix[:, column], CUTOFF)
        for offset in range(span.start, span.end)
    }


def evidence_agreement(model, test: pd.DataFrame) -> dict | None:
    """``{"f1", "rows"}`` over the test rows with annotated spans; None when none has any or
    the model has no evidence head."""
    if not model.has_evidence_head or "rationale" not in test:
        return None
    rows = [
        (text, {o for start, end, _ in spans for o in range(start, end)})
        for text, rationale in zip(test["text"], test["rationale"], strict=True)
        if (spans := gold_evidence(rationale))
    ]
    if not rows:
        return None
    matrices = model.evidence_scores([text for text, _ in rows])
    scores = [
        character_f1(_answered(text, matrix), gold)
        for (text, gold), matrix in zip(rows, matrices, strict=True)
    ]
    return {"f1": float(np.mean(scores)), "rows": len(rows)}
