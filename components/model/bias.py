"""Unintended identity-term bias, after Borkan et al. 2019 ("Nuanced Metrics for Measuring
Unintended Bias with Real Data for Text Classification").

The rows about one identity term form its subgroup; every other row, including those about no
identity, is its background. Three AUCs tell the kinds of bias apart: the subgroup AUC ranks
within the subgroup, BPSN (background positive, subgroup negative) is low when non-toxic
mentions of the term score above toxic background rows, and BNSP (background negative,
subgroup positive) is low when toxic mentions score below non-toxic background rows. The false
positive rate on the subgroup's non-toxic rows is what the bias costs at the threshold in use.
"""

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from components.errors import ModpipeError

# Nothing from components.model.metrics here: it imports this module (through quality.py).

# (summary name, statistic, per-term metric it summarises)
SUMMARY = (
    ("min_bpsn_auc", min, "bpsn_auc"),
    ("mean_bpsn_auc", np.mean, "bpsn_auc"),
    ("min_subgroup_auc", min, "subgroup_auc"),
    ("min_bnsp_auc", min, "bnsp_auc"),
    ("max_fpr", max, "fpr"),
    ("mean_fpr", np.mean, "fpr"),
)


def _term(value) -> str | None:
    """The identity term of one row; None, NaN and blank mean the row is about none."""
    if pd.isna(value) or not str(value).strip():
        return None
    return str(value).strip()


def _check(terms: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> None:
    if scores.ndim != 1 or len(labels) != len(scores) or len(terms) != len(scores):
        raise ModpipeError(
            f"identity bias needs one identity, label and score per row; got {len(terms)} "
            f"identities, labels {labels.shape} and scores {scores.shape}"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ModpipeError("identity bias needs 0/1 labels")
    if not np.all(np.isfinite(scores)):
        raise ModpipeError("scores contain nan or infinite values")


def _auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    return float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else None


def _term_metrics(
    in_subgroup: np.ndarray, labels: np.ndarray, scores: np.ndarray, threshold: float
) -> dict:
    positive = labels == 1
    subgroup_negative = in_subgroup & ~positive
    subgroup_positive = in_subgroup & positive
    bpsn = subgroup_negative | (~in_subgroup & positive)
    bnsp = subgroup_positive | (~in_subgroup & ~positive)
    negatives = int(subgroup_negative.sum())
    flagged = int(np.sum(scores[subgroup_negative] >= threshold))
    return {
        "rows": int(in_subgroup.sum()),
        "positives": int(subgroup_positive.sum()),
        "subgroup_auc": _auc(labels[in_subgroup], scores[in_subgroup]),
        "bpsn_auc": _auc(labels[bpsn], scores[bpsn]),
        "bnsp_auc": _auc(labels[bnsp], scores[bnsp]),
        "fpr": flagged / negatives if negatives else None,
    }


def by_bpsn(per_term: dict[str, dict]) -> list[str]:
    """Terms, lowest BPSN AUC first (the most over-flagged mentions); undefined ones last."""

    def key(term: str) -> tuple:
        value = per_term[term]["bpsn_auc"]
        return (value is None, value or 0.0, term)

    return sorted(per_term, key=key)


def _summary(per_term: dict[str, dict]) -> dict[str, float | None]:
    summary = {}
    for name, statistic, metric in SUMMARY:
        defined = [m[metric] for m in per_term.values() if m[metric] is not None]
        summary[name] = float(statistic(defined)) if defined else None
    return summary


def identity_bias(
    identities: Sequence[str | None],
    labels: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    min_rows: int = 10,
    worst: int = 5,
) -> dict:
    """Subgroup, BPSN and BNSP AUCs and the false positive rate per identity term.

    ``identities[i]`` is the term row i is about (None, NaN or "" for none: background only),
    ``labels`` 0/1 (toxic or not), ``scores`` 1-D in [0, 1]. Terms with fewer than
    ``min_rows`` rows are only listed under ``too_few_rows``; an AUC is None where its rows
    lack a class, the FPR where the subgroup has no negatives.
    """
    terms = np.array([_term(value) for value in identities], dtype=object)
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    _check(terms, labels, scores)
    labels = labels.astype(int)
    counts = Counter(term for term in terms if term is not None)
    per_term = {
        term: _term_metrics(terms == term, labels, scores, threshold)
        for term in sorted(counts)
        if counts[term] >= min_rows
    }
    return {
        "threshold": float(threshold),
        "rows": len(scores),
        "min_rows": min_rows,
        "identities": per_term,
        "worst": by_bpsn(per_term)[:worst],
        "summary": _summary(per_term),
        "too_few_rows": sorted(term for term in counts if counts[term] < min_rows),
    }
