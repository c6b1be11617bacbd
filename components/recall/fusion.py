"""Fuse the recall channels into one risk per item, and say which channels recalled it.

Per category, each channel gives evidence in [0, 1]: the classifier its score; similarity how
far past the match cut-off the nearest known violation of the category is (0 at the cut-off, 1
for a copy); terms 1 when a listed term is present. They combine as a noisy-OR of the
weighted evidence, ``1 - prod(1 - w * e)``, so any one channel can raise an item and agreeing
channels raise it further. The item's risk is its highest category's fused evidence times
that category's severity weight (taxonomy severity: a critical category outranks a low one at
the same evidence).
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
) -> pd.DataFrame:
    """``frame`` (scanned rows) with ``risk``, ``category``, ``score``, ``channels`` and the
    nearest known violation of that category (``nearest_id``, ``nearest_similarity``)."""
    categories = taxonomy.names
    scores = _matrix(frame, score_column, categories).astype(np.float32)
    similarity = _matrix(frame, similarity_column, categories).astype(np.float32)
    terms = _matrix(frame, term_column, categories) != ""
    cut = settings.match_similarity
    matched = similarity >= cut
    closeness = np.clip((similarity - cut) / max(1e-6, 1 - cut), 0, 1)
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
        risk=risks[rows, top],
        category=np.array(categories, dtype=object)[top],
        score=scores[rows, top],
        channels=channels,
        nearest_id=nearest_ids[rows, top],
        nearest_similarity=similarity[rows, top],
    )
