"""Fuse the recall channels into one risk per item, and say which channels recalled it.

Per category, each channel gives evidence in [0, 1]: the classifier its score; similarity how
far past the category's match cut-off (the index's, calibrated on held-out negatives) the
nearest known violation of the category is (0 at the cut-off, 1 for a copy); terms 1 when a
listed term is present. They combine as a noisy-OR of the
weighted evidence, ``1 - prod(1 - w * e)``, so any one channel can raise an item and agreeing
channels raise it further.

Two figures per item: its ``evidence`` (the highest category's fused evidence), which decides
what enters the queue, and its ``risk`` (each category's evidence times its severity weight,
the highest), which orders the queue, so a reviewer sees a critical category before a low one
at the same evidence. Selecting by risk instead let one critical category whose classifier
saturates on out-of-domain text fill the queue (BENCHMARKS.md, recall).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from components.config import RecallConfig
from components.data.canonical import Taxonomy
from components.recall.scan import (
    nearest_column,
    score_column,
    similarity_column,
    term_column,
)


def _matrix(frame: pd.DataFrame, column, categories: list[str]) -> np.ndarray:
    return np.column_stack([frame[column(c)].to_numpy() for c in categories])


def fuse(
    frame: pd.DataFrame,
    taxonomy: Taxonomy,
    thresholds: dict[str, float],
    settings: RecallConfig,
    match_cutoffs: dict[str, float] | None = None,
) -> pd.DataFrame:
    """``frame`` (scanned rows) with ``evidence``, ``risk``, ``category`` (of the risk),
    ``score``, ``channels`` and the nearest known violation of that category (``nearest_id``,
    ``nearest_similarity``)."""
    categories = taxonomy.names
    scores = _matrix(frame, score_column, categories).astype(np.float32)
    similarity = _matrix(frame, similarity_column, categories).astype(np.float32)
    terms = _matrix(frame, term_column, categories) != ""
    given = match_cutoffs or {}
    fallback = 1.01 if settings.match_similarity is None else settings.match_similarity
    cut = np.array([given.get(c, fallback) for c in categories], dtype=np.float32)
    matched = similarity >= cut
    closeness = np.clip((similarity - cut) / np.maximum(1e-6, 1 - cut), 0, 1)
    weight = settings.channel_weights
    fused = 1 - (
        (1 - weight.get("classifier", 0) * scores)
        * (1 - weight.get("similarity", 0) * closeness)
        * (1 - weight.get("terms", 0) * terms)
    )
    severity = np.array([settings.severity_weights[c.severity] for c in taxonomy.categories])
    risks = fused * severity
    top = risks.argmax(axis=1)
    rows = np.arange(len(frame))
    flagged = scores >= np.array([thresholds[c] for c in categories])
    channels = [
        ",".join(
            name
            for name, fired in (
                ("classifier", flagged[i, j]),
                ("similarity", matched[i, j]),
                ("terms", terms[i, j]),
            )
            if fired
        )
        for i, j in zip(rows, top, strict=True)
    ]
    nearest_ids = _matrix(frame, nearest_column, categories)
    return frame.assign(
        evidence=fused.max(axis=1),
        risk=risks[rows, top],
        category=np.array(categories, dtype=object)[top],
        score=scores[rows, top],
        channels=channels,
        nearest_id=nearest_ids[rows, top],
        nearest_similarity=similarity[rows, top],
    )
