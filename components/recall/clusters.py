"""Near-duplicates in a pool: one representative per campaign in the queue, with its size.

Two passes, cheapest first:
1. copies: texts with the same near-duplicate key (lowercased, mentions, URLs and punctuation
   dropped: components.data.canonical) over the whole pool, in one group-by;
2. near copies (a tag appended, a word changed): leader clustering of the copy groups'
   representatives in risk order. An item joins a leader that is both close by embedding
   (``similarity``) and shares most of its words (``overlap``, Jaccard of the keys' words),
   else it leads a new cluster. Both, because a fine-tuned encoder's space is collapsed:
   distinct texts of one category can be as close as copies (BENCHMARKS.md). Leaders are
   searched exactly (faiss, inner product), a batch at a time.
A cluster's size counts every pool item in it. The walk stops once the queue is full and at
least ``candidates`` representatives were seen: a campaign's copies score alike, so they rank
together, and the tail of a large pool cannot join the queue's clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
import pandas as pd

from components.data.canonical import near_duplicate_key, text_key

BATCH = 2048
LEADERS_SEARCHED = 8  # an item's nearest leaders by embedding, checked for word overlap


@dataclass(frozen=True)
class Clusters:
    """``leaders``: pool rows, riskiest first; ``size`` and ``members`` (pool rows) of each."""

    leaders: np.ndarray
    size: np.ndarray
    members: list[np.ndarray]


def copy_groups(texts: pd.Series) -> np.ndarray:
    """Per pool row, a group number shared by its copies (a text with no key is alone)."""
    keys = near_duplicate_key(texts.reset_index(drop=True))
    alone = keys.isna().to_numpy()
    groups = np.empty(len(keys), dtype=np.int64)
    groups[~alone] = pd.factorize(keys[~alone])[0]
    groups[alone] = groups[~alone].max(initial=-1) + 1 + np.arange(alone.sum())
    return groups


def overlap(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


class _Leaders:
    """The clusters found so far: their leaders' vectors (searchable) and words."""

    def __init__(self, dim: int, similarity: float, min_overlap: float):
        self.index = faiss.IndexFlatIP(dim)
        self.rows: list[int] = []
        self.words: list[frozenset] = []
        self.similarity = similarity
        self.min_overlap = min_overlap

    def find(self, vectors: np.ndarray, words: list[frozenset]) -> np.ndarray:
        """Per item, the first of its nearest leaders it is a near copy of (-1: none)."""
        found = np.full(len(vectors), -1, dtype=np.int64)
        if not self.rows:
            return found
        similar, nearest = self.index.search(vectors, min(LEADERS_SEARCHED, len(self.rows)))
        for item in range(len(vectors)):
            for score, leader in zip(similar[item], nearest[item], strict=True):
                if score < self.similarity:
                    break
                if overlap(words[item], self.words[leader]) >= self.min_overlap:
                    found[item] = leader
                    break
        return found

    def add(self, row: int, vector: np.ndarray, words: frozenset) -> int:
        self.index.add(vector[None, :])
        self.rows.append(row)
        self.words.append(words)
        return len(self.rows) - 1


def cluster(
    risk: np.ndarray,
    texts: pd.Series,
    embeddings: np.ndarray,
    limit: int,
    candidates: int,
    similarity: float,
    min_overlap: float = 0.5,
) -> Clusters:
    """Up to ``limit`` clusters of the pool, their leaders riskiest first."""
    texts = texts.reset_index(drop=True)
    groups = copy_groups(texts)
    order = np.lexsort((np.arange(len(risk)), -risk))  # riskiest first; ties keep pool order
    first = np.unique(groups[order], return_index=True)[1]
    heads = order[np.sort(first)]  # each copy group's riskiest row, by risk
    leaders = _Leaders(embeddings.shape[1], similarity, min_overlap)
    assigned = np.full(len(heads), -1, dtype=np.int64)  # the cluster of each head
    for start in range(0, len(heads), BATCH):
        if len(leaders.rows) >= limit and start >= candidates:
            break  # the queue is full, and the copies of its clusters are counted
        rows = heads[start : start + BATCH]
        vectors = np.ascontiguousarray(embeddings[rows], dtype=np.float32)
        words = [frozenset(text_key(texts[row]).split()) for row in rows]
        # One item at a time against the leaders, the batch's new leaders included.
        found = leaders.find(vectors, words)
        for item, row in enumerate(rows):
            if found[item] < 0 and len(leaders.rows) < limit:
                again = leaders.find(vectors[item : item + 1], words[item : item + 1])[0]
                found[item] = again if again >= 0 else leaders.add(row, vectors[item], words[item])
        assigned[start : start + len(rows)] = found
    return _members(groups, heads, assigned, leaders.rows)


def _members(groups, heads, assigned, leader_rows: list[int]) -> Clusters:
    """Every pool row of each cluster: the copy groups of the heads assigned to it."""
    by_group = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[by_group], np.arange(groups.max() + 2))
    parts: list[list[np.ndarray]] = [[] for _ in leader_rows]
    for head, number in zip(heads, assigned, strict=True):
        if number >= 0:
            group = groups[head]
            parts[number].append(by_group[bounds[group] : bounds[group + 1]])
    members = [np.concatenate(p) for p in parts]
    return Clusters(
        leaders=np.array(leader_rows, dtype=np.int64),
        size=np.array([len(m) for m in members], dtype=np.int64),
        members=members,
    )
