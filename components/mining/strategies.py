"""Ways to choose what to annotate next, each from plain arrays (no model needed).

Every strategy takes ``count`` and an ``exclude`` mask (items already labelled, or already
picked for this batch) and returns a :class:`Ranking`: up to ``count`` item indices, best
first, the value each was ranked by (its meaning is in each strategy's docstring) and the
category that decided it (-1 where none did, as in diversity).
Scores are [n, k] probabilities, one column per category; thresholds are [k].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

EPSILON = 1e-6  # keeps logits finite at probabilities of exactly 0 or 1
LABEL_ERROR_FOLDS = 5
SIMILARITY_CHUNK = 4096  # rows of embeddings per matrix product, to bound memory


@dataclass(frozen=True)
class Ranking:
    indices: np.ndarray  # int, best first
    values: np.ndarray  # float, the value each item was ranked by
    categories: np.ndarray  # int, the column of the deciding category, -1 for none


def logit(probabilities: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(probabilities, dtype=np.float64), EPSILON, 1 - EPSILON)
    return np.log(clipped / (1 - clipped))


def threshold_margins(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """[n, k] signed distance to each category's threshold, in logit space: a score of 0.05
    against a threshold of 0.1 is as close as 0.5 against 0.67, so low thresholds are fair."""
    return logit(scores) - logit(np.asarray(thresholds))[None, :]


def _top(
    key: np.ndarray, values: np.ndarray, categories: np.ndarray, exclude: np.ndarray, count: int
) -> Ranking:
    """The ``count`` non-excluded items of highest ``key`` (ties: the lower index first)."""
    candidates = np.flatnonzero(~exclude)
    chosen = candidates[np.argsort(-key[candidates], kind="stable")[:count]]
    return Ranking(indices=chosen, values=values[chosen], categories=categories[chosen])


def uncertainty(
    scores: np.ndarray, thresholds: np.ndarray, count: int, exclude: np.ndarray
) -> Ranking:
    """Items nearest a decision, the categories taking turns: each turn every category takes
    its nearest item not yet picked (the nearer first), so the boundary of a common category
    does not crowd out a rare one's, which a macro metric weighs as much. Value = the logit
    distance to the deciding category's threshold (0 = exactly at it)."""
    distance = np.abs(threshold_margins(scores, thresholds))
    nearest_first = np.argsort(distance, axis=0, kind="stable")
    taken = np.asarray(exclude, dtype=bool).copy()
    wanted = min(count, int((~taken).sum()))
    cursors = np.zeros(distance.shape[1], dtype=int)
    chosen, deciding = [], []
    while len(chosen) < wanted:
        for category in _turn_order(distance, nearest_first, cursors, taken):
            cursors[category] = _next_free(nearest_first[:, category], cursors[category], taken)
            item = nearest_first[cursors[category], category]
            taken[item] = True
            chosen.append(item)
            deciding.append(category)
            if len(chosen) == wanted:
                break
    indices = np.array(chosen, dtype=int)
    categories = np.array(deciding, dtype=int)
    return Ranking(indices=indices, values=distance[indices, categories], categories=categories)


def spread_out(
    ranking: Ranking, embeddings: np.ndarray, centres: np.ndarray, count: int
) -> Ranking:
    """``count`` of the ranking's items by greedy k-center (each the farthest from the centres
    and the picks before it), so a batch is not spent on near-copies of one uncertain item;
    each keeps its value and category."""
    outside = np.ones(len(embeddings), dtype=bool)
    outside[ranking.indices] = False
    picked = diversity(embeddings, centres, count, outside).indices
    position = {item: at for at, item in enumerate(ranking.indices.tolist())}
    order = np.array([position[item] for item in picked.tolist()], dtype=int)
    return Ranking(
        indices=ranking.indices[order],
        values=ranking.values[order],
        categories=ranking.categories[order],
    )


def _next_free(order: np.ndarray, cursor: int, taken: np.ndarray) -> int:
    while taken[order[cursor]]:
        cursor += 1
    return cursor


def _turn_order(distance, nearest_first, cursors, taken) -> list[int]:
    """This turn's categories, the one whose next free item is nearest its threshold first."""
    nearest = []
    for category in range(distance.shape[1]):
        cursors[category] = _next_free(nearest_first[:, category], cursors[category], taken)
        nearest.append(distance[nearest_first[cursors[category], category], category])
    return np.argsort(nearest, kind="stable").tolist()


def disagreement(
    scores: np.ndarray,
    baseline: np.ndarray,
    thresholds: np.ndarray,
    count: int,
    exclude: np.ndarray,
    baseline_thresholds: np.ndarray | None = None,
) -> Ranking:
    """Items where the fine-tuned model and the zero/few-shot baseline disagree: first those
    where they decide differently in some category, then by value = the largest
    |p_model - p_baseline| over the categories. The baseline decides at 0.5 unless told."""
    if baseline_thresholds is None:
        baseline_thresholds = np.full(scores.shape[1], 0.5)
    gaps = np.abs(scores - baseline)
    opposite = ((scores >= thresholds) != (baseline >= baseline_thresholds)).any(axis=1)
    gap = gaps.max(axis=1)
    # a gap is at most 1, so opposite decisions always rank before agreeing ones
    return _top(gap + opposite, gap, gaps.argmax(axis=1), exclude, count)


def out_of_fold_probabilities(
    embeddings: np.ndarray, labels: np.ndarray, folds: int, seed: int
) -> np.ndarray | None:
    """P(label = 1) of each item from a logistic regression that never saw it (k-fold), or
    None where a class has too few items to split (fewer than 2)."""
    smaller_class = int(min(labels.sum(), len(labels) - labels.sum()))
    if smaller_class < 2:
        return None
    splitter = StratifiedKFold(n_splits=min(folds, smaller_class), shuffle=True, random_state=seed)
    head = LogisticRegression(max_iter=1000)
    return cross_val_predict(head, embeddings, labels, cv=splitter, method="predict_proba")[:, 1]


def confident_errors(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """The confident-learning rule for one binary category: per class, the threshold is the
    mean self-confidence of the items given that label; an item given label i is a likely
    error when its probability of the other class reaches that class's threshold. Returns
    each item's margin past that threshold (>= 0: a likely error)."""
    positive_threshold = probabilities[labels == 1].mean()  # mean P(1) of items labelled 1
    negative_threshold = (1 - probabilities[labels == 0]).mean()  # mean P(0) of those labelled 0
    return np.where(
        labels == 1,
        (1 - probabilities) - negative_threshold,
        probabilities - positive_threshold,
    )


def label_errors(
    embeddings: np.ndarray,
    labels: np.ndarray,
    count: int,
    exclude: np.ndarray,
    folds: int = LABEL_ERROR_FOLDS,
    seed: int = 0,
) -> Ranking:
    """Labelled items whose label looks wrong (confident learning, per category, from
    out-of-fold logistic regression heads on the embeddings): value = the largest margin past
    the other class's threshold over the categories (>= 0: a likely error). ``labels`` is
    [n, k] with nan for unknown; items with no known label are never picked."""
    margins = np.full(labels.shape, -np.inf)
    for column in range(labels.shape[1]):
        known = ~np.isnan(labels[:, column])
        given = labels[known, column].astype(int)
        probabilities = out_of_fold_probabilities(embeddings[known], given, folds, seed)
        if probabilities is not None:
            margins[known, column] = confident_errors(given, probabilities)
    best = margins.max(axis=1)
    return _top(best, best, margins.argmax(axis=1), exclude | np.isneginf(best), count)


def max_similarity(vectors: np.ndarray, others: np.ndarray) -> np.ndarray:
    """[n] each L2-normalised vector's largest cosine similarity to any of ``others``."""
    if len(others) == 0 or len(vectors) == 0:
        return np.full(len(vectors), -np.inf)
    return np.concatenate(
        [
            (vectors[start : start + SIMILARITY_CHUNK] @ others.T).max(axis=1)
            for start in range(0, len(vectors), SIMILARITY_CHUNK)
        ]
    )


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True).clip(min=EPSILON)


def diversity(
    embeddings: np.ndarray, centres: np.ndarray, count: int, exclude: np.ndarray
) -> Ranking:
    """Greedy k-center on L2-normalised embeddings: each pick is the candidate farthest from
    its nearest centre (the ``centres`` mask, e.g. the labelled items, then every pick).
    value = that cosine distance. With no centres, the first pick is the farthest from the
    candidates' mean (value 2, the largest cosine distance)."""
    candidates = np.flatnonzero(~exclude)
    vectors = _unit(embeddings[candidates])  # only the rows needed: a shortlist of a large pool
    if centres.any():
        distance = 1 - max_similarity(vectors, _unit(embeddings[centres]))
    else:  # no centre yet: above any cosine distance (2), highest far from the candidates' mean
        distance = 3 - vectors @ vectors.mean(axis=0)
    chosen, values = [], []
    for _ in range(min(count, len(candidates))):
        best = int(np.argmax(distance))
        chosen.append(candidates[best])
        values.append(min(distance[best], 2.0))
        distance = np.minimum(distance, 1 - vectors @ vectors[best])
        distance[best] = -np.inf  # picked: never again
    return Ranking(
        indices=np.asarray(chosen, dtype=int),
        values=np.asarray(values),
        categories=np.full(len(chosen), -1),
    )


def near_misses(
    similarity: np.ndarray,
    scores: np.ndarray,
    thresholds: np.ndarray,
    count: int,
    exclude: np.ndarray,
) -> Ranking:
    """Items much like a known violation that the model lets through: first those below
    every threshold, then by value = ``similarity``, each item's largest cosine similarity to
    a known violating item."""
    missed = (scores < thresholds).all(axis=1)
    nearest = threshold_margins(scores, thresholds).argmax(axis=1)
    # a cosine similarity is at most 1, so missed items always rank first
    return _top(similarity + 2.0 * missed, similarity, nearest, exclude, count)
