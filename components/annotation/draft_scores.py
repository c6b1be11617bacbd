"""How far an annotator backend's decisions agree with people's labels.

Drafts (components/annotation/llm.py) are matched by id to the rows of a labelled canonical
dataset. Per category, a ``violates`` decision is a prediction of label 1 and
``does_not_violate`` of label 0; ``unsure`` predicts nothing, so it is left out of precision,
recall, F1, Cohen's kappa and raw agreement and counted in the coverage instead, as are
malformed answers. Rows whose label is unknown are left out too.
"""

from __future__ import annotations

import pandas as pd
from sklearn.metrics import cohen_kappa_score, f1_score, precision_score, recall_score

from components.data.canonical import label_column
from components.errors import ModpipeError

PREDICTED = {"violates": 1, "does_not_violate": 0}


def _metrics(human: list[int], drafted: list[int]) -> dict:
    """Precision, recall and F1 of label 1, kappa and agreement; None where undefined."""
    if not human:
        return dict.fromkeys(("precision", "recall", "f1", "kappa", "agreement"))
    both = {"y_true": human, "y_pred": drafted, "zero_division": 0}
    one_label = len(set(human) | set(drafted)) < 2  # kappa is 0/0 there
    return {
        "precision": float(precision_score(**both)),
        "recall": float(recall_score(**both)),
        "f1": float(f1_score(**both)),
        "kappa": None if one_label else float(cohen_kappa_score(human, drafted)),
        "agreement": sum(h == d for h, d in zip(human, drafted, strict=True)) / len(human),
    }


def _labels(frame: pd.DataFrame, categories: list[str]) -> dict[str, dict[str, int]]:
    """Per row id, its known labels (0 or 1) of ``categories``."""
    known: dict[str, dict[str, int]] = {}
    for name in categories:
        for row_id, label in zip(frame["id"].astype(str), frame[label_column(name)], strict=True):
            if not pd.isna(label):
                known.setdefault(row_id, {})[name] = int(label)
    return known


def score_drafts(drafts: list[dict], frame: pd.DataFrame, categories: list[str]) -> dict:
    """Per category and overall agreement of the drafts (as :func:`read_drafts` gives them)
    with the labels in ``frame``, and the coverage: shares answered, malformed and unsure."""
    rows = set(frame["id"].astype(str))
    matched = [draft for draft in drafts if draft["id"] in rows]
    if not matched:
        raise ModpipeError("no draft's id is a row of the dataset: nothing to score")
    answered = [draft for draft in matched if "rationale" in draft]
    judged = {name for d in answered for name in d["rationale"].judgements[0].categories}
    scored = [name for name in categories if name in judged]
    if answered and not scored:
        raise ModpipeError(f"the drafts judge none of the dataset's categories {categories}")
    labels = _labels(frame, scored)
    pairs = {name: ([], []) for name in scored}
    decisions = unsure = 0
    for draft in answered:
        for name, judgement in draft["rationale"].judgements[0].categories.items():
            if name not in pairs:
                continue
            decisions += 1
            unsure += judgement.decision == "unsure"
            label = labels.get(draft["id"], {}).get(name)
            if label is not None and judgement.decision in PREDICTED:
                pairs[name][0].append(label)
                pairs[name][1].append(PREDICTED[judgement.decision])
    per_category = {
        name: {"pairs": len(human), "positives": sum(human), **_metrics(human, drafted)}
        for name, (human, drafted) in pairs.items()
    }
    every_human = [label for human, _ in pairs.values() for label in human]
    every_drafted = [label for _, drafted in pairs.values() for label in drafted]
    f1s = [scores["f1"] for scores in per_category.values() if scores["f1"] is not None]
    overall = _metrics(every_human, every_drafted)
    overall |= {"pairs": len(every_human), "macro_f1": sum(f1s) / len(f1s) if f1s else None}
    return {
        "drafts": len(drafts),
        "matched": len(matched),
        "answered": len(answered) / len(matched),
        "malformed": (len(matched) - len(answered)) / len(matched),
        "unsure": unsure / decisions if decisions else 0.0,
        "categories": per_category,
        "overall": overall,
    }
