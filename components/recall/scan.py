"""Scan one shard of a pool: every item through the recall channels, its embedding kept.

- the classifier: per-category scores, from the champion;
- similarity: per category, the nearest known violation of it (the model's index) and how
  similar, from the embedding the same forward pass gives;
- terms: per category, the first listed term the normalised text contains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from components.model.modeling import ModerationModel
from components.model.neighbours import ViolationIndex
from components.recall.terms import TermLists

CHUNK = 2048  # texts per progress step; bounds the memory of one step too


def score_column(category: str) -> str:
    return f"score_{category}"


def similarity_column(category: str) -> str:
    return f"similarity_{category}"


def nearest_column(category: str) -> str:
    return f"nearest_{category}"


def term_column(category: str) -> str:
    return f"term_{category}"


@dataclass(frozen=True)
class ScannedShard:
    """The shard's rows with the channels' columns, and [rows, dim] embeddings in their order."""

    frame: pd.DataFrame
    embeddings: np.ndarray


def _similarity(index: ViolationIndex | None, vectors: np.ndarray, neighbours: int):
    """Per category, each vector's similarity to its nearest known violation, and its id."""
    if index is None or not len(index):
        return {}, {}
    nearest = index.nearest_by_category(vectors, neighbours)
    ids = np.array([e.id for e in index.entries] + [""], dtype=object)  # position -1: none
    categories = index.manifest.categories
    similarity = {c: nearest.similarity[:, j] for j, c in enumerate(categories)}
    known = {c: ids[nearest.position[:, j]] for j, c in enumerate(categories)}
    return similarity, known


def scan_shard(
    model: ModerationModel,
    shard: pd.DataFrame,
    index: ViolationIndex | None,
    terms: TermLists | None,
    neighbours: int = 16,
    batch_size: int = 64,
    progress: bool = False,
) -> ScannedShard:
    texts = shard["text"].tolist()
    parts, vectors = [], []
    steps = range(0, len(texts), CHUNK)
    for start in tqdm(steps, desc="scanning", unit="chunk", disable=not progress):
        chunk = texts[start : start + CHUNK]
        scores, embedded = model.predict_with_embeddings(chunk, batch_size)
        similarity, known = _similarity(index, embedded, neighbours)
        hits = [terms.matches(text) for text in chunk] if terms else [{}] * len(chunk)
        columns = {}
        for j, category in enumerate(model.categories):
            columns[score_column(category)] = scores[:, j]
            columns[similarity_column(category)] = similarity.get(
                category, np.zeros(len(chunk), dtype=np.float32)
            )
            columns[nearest_column(category)] = known.get(category, np.full(len(chunk), ""))
            columns[term_column(category)] = [hit.get(category, "") for hit in hits]
        parts.append(pd.DataFrame(columns))
        vectors.append(embedded)
    channels = pd.concat(parts, ignore_index=True)
    frame = pd.concat([shard.reset_index(drop=True), channels], axis=1)
    return ScannedShard(frame, np.concatenate(vectors).astype(np.float32))
