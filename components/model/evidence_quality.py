"""How well a model's evidence agrees with the annotators', in every evaluation: over the test
rows whose rationale marks evidence spans, the mean per-row F1 of the characters the service
would answer with against the characters the annotators marked, as SemEval-2021 Task 5 (Toxic
Spans) scores a post.

The answer is the service's own (components.model.evidence.explain at the model's thresholds): the
evidence head's spans, or occlusion's for a model without one, of each flagged category, so a row
the model does not flag answers no evidence and scores 0. Both sides are category-blind: the gold is
the characters that at least half of the row's annotators marked, whatever the type (SemEval's rule;
every marked character where the rationale does not count its annotators), the prediction the union
of its categories' spans. Rows without gold (no spans, or none that half marked) are left out: in
the canonical data the absence of spans says nothing (the head's training masks them alike), where
SemEval's test split counts a post without gold spans as 1 only when nothing is predicted. The
evidence benchmark (benchmarks/evidence.py) scores the SemEval way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pandas as pd

from components.data.canonical import is_missing
from components.data.rationale import parse_rationale
from components.model.evidence import explain

MAJORITY = 0.5  # of a row's annotators: who marked a character for it to be gold


def character_f1(predicted: set[int], gold: set[int]) -> float:
    """SemEval-2021 Task 5's per-post F1 of character offsets (1 when both are empty)."""
    if not gold:
        return 1.0 if not predicted else 0.0
    if not predicted:
        return 0.0
    return 2 * len(predicted & gold) / (len(predicted) + len(gold))


def evidence_agreement(
    model,
    test: pd.DataFrame,
    scores: np.ndarray,
    score_texts: Callable[[list[str]], np.ndarray] | None = None,
) -> dict | None:
    """``{"f1", "rows", "method"}`` over the test rows with annotated spans, ``scores`` being the
    test rows' [n, k] scores (``score_texts`` scores occlusion's erasures); None when no row has
    spans."""
    if "rationale" not in test:
        return None
    gold = [_majority_offsets(rationale) for rationale in test["rationale"]]
    rows = [row for row, offsets in enumerate(gold) if offsets]
    if not rows:
        return None
    texts = [test["text"].iloc[row] for row in rows]
    answers = explain(model, texts, scores[rows], score_texts=score_texts)
    f1 = [
        character_f1(_offsets(answer), gold[row]) for row, answer in zip(rows, answers, strict=True)
    ]
    method = "evidence head" if getattr(model, "has_evidence_head", False) else "occlusion"
    return {"f1": float(np.mean(f1)), "rows": len(rows), "method": method}


def _majority_offsets(rationale) -> set[int]:
    """The characters marked by at least half of the annotators (their shares summed: one
    annotator's two types of span on a character count twice, which the merged spans cannot
    tell apart)."""
    if is_missing(rationale):
        return set()
    parsed = parse_rationale(rationale)
    marked = Counter()
    for span in parsed.evidence:
        for offset in range(span.start, span.end):
            marked[offset] += parsed.share(span)
    # - 1e-9: a sum of thirds and sixths can fall a rounding error short of a half
    return {offset for offset, share in marked.items() if share >= MAJORITY - 1e-9}


def _offsets(answer: dict) -> set[int]:
    return {o for spans in answer.values() for span in spans for o in range(span.start, span.end)}
