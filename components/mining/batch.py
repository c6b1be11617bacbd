"""One annotation batch: the strategies' picks by the bandit's allocation, never an item twice.

Items with every label known are not annotated again, except by ``label_errors``, whose
candidates are exactly the labelled items (a re-review). Strategies pick in turn, each from
what the ones before left, and ``diversity`` counts the items picked so far as centres; a
strategy that runs out of candidates leaves its share to the others, largest allocation first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from components.errors import ModpipeError
from components.mining import strategies


def labelled_rows(labels: np.ndarray | None, count: int) -> np.ndarray:
    """[n] bool: every label known (``labels`` [n, k], nan = unknown, or None: none known)."""
    if labels is None:
        return np.zeros(count, dtype=bool)
    return ~np.isnan(labels).any(axis=1)


def candidate_rows(strategy: str, labels: np.ndarray | None, count: int) -> np.ndarray:
    """[n] bool: the items ``strategy`` may pick."""
    if strategy != "label_errors":
        return ~labelled_rows(labels, count)
    if labels is None:
        return np.zeros(count, dtype=bool)
    return ~np.isnan(labels).all(axis=1)


def violating_rows(labels: np.ndarray | None, count: int) -> np.ndarray:
    """[n] bool: every label known, and some positive (a known violation)."""
    if labels is None:
        return np.zeros(count, dtype=bool)
    return labelled_rows(labels, count) & (np.nan_to_num(labels) == 1).any(axis=1)


@dataclass(frozen=True)
class MiningInputs:
    """Everything the strategies read, per item (row): [n, k] arrays have a column per
    category."""

    scores: np.ndarray  # the model's probabilities
    thresholds: np.ndarray  # [k] the model's decision thresholds
    embeddings: np.ndarray  # [n, d] L2-normalised
    baseline: np.ndarray | None = None  # the zero/few-shot baseline's probabilities
    labels: np.ndarray | None = None  # known labels, nan = unknown
    similarity: np.ndarray | None = None  # [n] max cosine similarity to a known violation
    seed: int = 0

    @property
    def labelled(self) -> np.ndarray:
        return labelled_rows(self.labels, len(self.scores))

    @property
    def violating(self) -> np.ndarray:
        return violating_rows(self.labels, len(self.scores))


Strategy = Callable[[MiningInputs, int, np.ndarray], strategies.Ranking]
# uncertainty spreads its picks over this many times as many nearest candidates: in the
# simulated labelling benchmark, 5 needed fewer labels than 1 (none), 2 or 10 (BENCHMARKS.md)
UNCERTAINTY_SHORTLIST = 5

STRATEGIES: dict[str, Strategy] = {
    "uncertainty": lambda inputs, count, taken: strategies.spread_out(
        strategies.uncertainty(
            inputs.scores, inputs.thresholds, UNCERTAINTY_SHORTLIST * count, taken | inputs.labelled
        ),
        inputs.embeddings,
        inputs.labelled | taken,
        count,
    ),
    "disagreement": lambda inputs, count, taken: strategies.disagreement(
        inputs.scores, inputs.baseline, inputs.thresholds, count, taken | inputs.labelled
    ),
    "label_errors": lambda inputs, count, taken: strategies.label_errors(
        inputs.embeddings, inputs.labels, count, taken, seed=inputs.seed
    ),
    "diversity": lambda inputs, count, taken: strategies.diversity(
        inputs.embeddings, inputs.labelled | taken, count, taken | inputs.labelled
    ),
    "near_misses": lambda inputs, count, taken: strategies.near_misses(
        inputs.similarity, inputs.scores, inputs.thresholds, count, taken | inputs.labelled
    ),
}


def missing_input(
    strategy: str, labels: np.ndarray | None, count: int, baseline: bool, anchored: bool
) -> str | None:
    """What ``strategy`` lacks to run, as the user would be told, or None. ``baseline``: there
    are baseline scores; ``anchored``: there are known violations to be similar to."""
    if strategy == "disagreement" and not baseline:
        return "baseline scores"
    if strategy == "near_misses" and not anchored:
        return "known violations (labelled positives or --violations)"
    if not candidate_rows(strategy, labels, count).any():
        if strategy == "label_errors":
            return "labelled items (a canonical dataset with labels)"
        return "unlabelled items"
    return None


def check_request(
    names: list[str],
    budget: int,
    labels: np.ndarray | None,
    count: int,
    baseline: bool = True,
    anchored: bool = True,
) -> None:
    """Refuse unknown strategies, strategies without their inputs, and a budget larger than
    the items they could pick between them, before any long work."""
    unknown = [name for name in names if name not in STRATEGIES]
    if unknown:
        raise ModpipeError(
            f"unknown strategy {', '.join(unknown)}: choose from {', '.join(STRATEGIES)}"
        )
    for name in names:
        lacking = missing_input(name, labels, count, baseline, anchored)
        if lacking:
            raise ModpipeError(f"strategy {name} needs {lacking}")
    available = int(np.logical_or.reduce([candidate_rows(n, labels, count) for n in names]).sum())
    if budget > available:
        raise ModpipeError(
            f"a batch of {budget} is more than the {available} items the strategies "
            f"({', '.join(names)}) can pick from"
        )


@dataclass(frozen=True)
class Batch:
    indices: np.ndarray  # int, the picked items in the order they were picked
    strategies: list[str]  # who picked each
    values: np.ndarray  # the value each was ranked by (see components.mining.strategies)
    categories: np.ndarray  # the deciding category's column, -1 for none


def assemble(inputs: MiningInputs, allocation: dict[str, int]) -> Batch:
    """The batch of ``sum(allocation)`` items (fewer only if the candidates run out)."""
    check_request(
        list(allocation),
        sum(allocation.values()),
        inputs.labels,
        len(inputs.scores),
        baseline=inputs.baseline is not None,
        anchored=inputs.similarity is not None,
    )
    taken = np.zeros(len(inputs.scores), dtype=bool)
    picked: list[tuple[str, strategies.Ranking]] = []

    def pick(name: str, count: int) -> int:
        ranking = STRATEGIES[name](inputs, count, taken)
        taken[ranking.indices] = True
        picked.append((name, ranking))
        return len(ranking.indices)

    short = sum(count - pick(name, count) for name, count in allocation.items() if count)
    for name in sorted(allocation, key=allocation.get, reverse=True):
        if short:
            short -= pick(name, short)
    return Batch(
        indices=np.concatenate([r.indices for _, r in picked]).astype(int),
        strategies=[name for name, r in picked for _ in r.indices],
        values=np.concatenate([r.values for _, r in picked]),
        categories=np.concatenate([r.categories for _, r in picked]).astype(int),
    )
