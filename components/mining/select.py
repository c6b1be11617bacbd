"""Choose the next annotation batch with a trained model: score, embed, rank, allocate.

The items are a canonical dataset (whose labelled rows can be re-reviewed by ``label_errors``
and whose labelled violations anchor ``near_misses``) or a pool of unlabelled id/text rows.
The model's own mean-pooled embeddings place the items; the zero-shot baseline (category
descriptions on the bundled sentence encoder) is the second opinion ``disagreement`` reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from components.data.canonical import label_column, read_dataset
from components.errors import ModpipeError
from components.mining import strategies
from components.mining.bandit import (
    BanditState,
    Pick,
    Reward,
    allocate,
    new_state,
    start_round,
)
from components.mining.batch import (
    STRATEGIES,
    Batch,
    MiningInputs,
    assemble,
    check_request,
    missing_input,
    violating_rows,
)
from components.model.baseline import EmbeddingBaseline
from components.model.metrics import label_matrix
from components.model.modeling import ModerationModel
from components.recall.pool import check_pool, read_pool

SCORING_CHUNK = 512  # texts per progress step
REASONS = {
    "uncertainty": "{category} at {score:.2f}, near its threshold {threshold:.2f}",
    "disagreement": "{category}: the model says {score:.2f}, the baseline {baseline:.2f}",
    "label_errors": "its {category} label ({label}) looks wrong (margin {value:+.2f})",
    "diversity": "unlike everything labelled or picked (cosine distance {value:.2f})",
    "near_misses": "close to a known violation (similarity {value:.2f}), {category} {score:.2f}",
}
Track = Callable[[Iterable, str, int], Iterable]  # (steps, description, total) -> steps


def _no_progress(steps: Iterable, description: str, total: int) -> Iterable:
    return steps


def read_items(data: Path | None = None, pool: Path | None = None) -> pd.DataFrame:
    """The items to mine: a canonical dataset's rows (with labels) or a pool (id and text)."""
    if (data is None) == (pool is None):
        raise ModpipeError("give the items as --data DIR (a canonical dataset) or --pool FILE")
    if pool is not None:
        return read_pool(pool)
    return check_pool(read_dataset(data)[1], str(data))  # ids unique, every text there


def known_labels(items: pd.DataFrame, categories: list[str]) -> np.ndarray | None:
    """[n, k] the items' labels for the model's categories (nan = unknown), or None where the
    items carry none of them."""
    present = [name for name in categories if label_column(name) in items.columns]
    if not present:
        return None
    filled = items.assign(
        **{label_column(name): pd.NA for name in categories if name not in present}
    )
    labels = label_matrix(filled, categories)
    return None if np.isnan(labels).all() else labels


def _chunks(texts: list[str], track: Track, description: str) -> Iterable[list[str]]:
    starts = range(0, len(texts), SCORING_CHUNK)
    for start in track(starts, description, len(starts)):
        yield texts[start : start + SCORING_CHUNK]


def embed(
    model: ModerationModel, texts: list[str], batch_size: int, track: Track, description: str
) -> tuple[np.ndarray, np.ndarray]:
    """The model's scores and embeddings of ``texts``, a chunk at a time (for progress)."""
    parts = [
        model.predict_with_embeddings(chunk, batch_size)
        for chunk in _chunks(texts, track, description)
    ]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def mining_inputs(
    model: ModerationModel,
    texts: list[str],
    labels: np.ndarray | None = None,
    violations: list[str] | None = None,
    batch_size: int = 64,
    seed: int = 0,
    track: Track = _no_progress,
) -> MiningInputs:
    """The strategies' arrays for ``texts`` and their known ``labels``. Known violations are
    the fully labelled items with a positive label, plus ``violations`` (texts known to
    violate)."""
    scores, embeddings = embed(model, texts, batch_size, track, "scoring the items")
    inputs = MiningInputs(
        scores=scores,
        thresholds=np.array([model.thresholds[name] for name in model.categories]),
        embeddings=embeddings,
        labels=labels,
        seed=seed,
    )
    anchors = embeddings[inputs.violating]
    if violations:
        extra = embed(model, violations, batch_size, track, "embedding known violations")[1]
        anchors = np.concatenate([anchors, extra])
    baseline = EmbeddingBaseline(model.taxonomy).fit()
    baseline_scores = np.concatenate(
        [baseline.predict_scores(chunk) for chunk in _chunks(texts, track, "baseline scores")]
    )
    return replace(
        inputs,
        baseline=baseline_scores,
        similarity=strategies.max_similarity(embeddings, anchors) if len(anchors) else None,
    )


def _top_columns(inputs: MiningInputs) -> np.ndarray:
    """Each item's category most above (or least below) its threshold, in logit space."""
    return strategies.threshold_margins(inputs.scores, inputs.thresholds).argmax(axis=1)


def _reason(
    strategy: str, inputs: MiningInputs, categories: list[str], row: int, value: float, column: int
) -> str:
    label = np.nan if inputs.labels is None else inputs.labels[row, column]
    return REASONS[strategy].format(
        category=categories[column],
        score=inputs.scores[row, column],
        threshold=inputs.thresholds[column],
        baseline=np.nan if inputs.baseline is None else inputs.baseline[row, column],
        label="unknown" if np.isnan(label) else int(label),
        value=value,
    )


def batch_frame(
    items: pd.DataFrame, inputs: MiningInputs, batch: Batch, categories: list[str], number: int
) -> pd.DataFrame:
    """The batch for annotators: who picked each item and why, the model's scores, and the
    label columns to fill in (holding the current labels of a re-reviewed item)."""
    rows = batch.indices
    top = _top_columns(inputs)[rows]
    deciding = np.where(batch.categories >= 0, batch.categories, top)
    frame = pd.DataFrame(
        {
            "id": items["id"].to_numpy()[rows],
            "text": items["text"].to_numpy()[rows],
            "round": number,
            "strategy": batch.strategies,
            "strategy_score": np.round(batch.values, 4),
            "reason": [
                _reason(name, inputs, categories, row, value, column)
                for name, row, value, column in zip(
                    batch.strategies, rows, batch.values, deciding, strict=True
                )
            ],
            "top_category": [categories[column] for column in top],
            "top_score": np.round(inputs.scores[rows, top], 4),
        }
    )
    for column, name in enumerate(categories):
        frame[f"score_{name}"] = np.round(inputs.scores[rows, column], 4)
    for column, name in enumerate(categories):
        known = np.full(len(rows), np.nan) if inputs.labels is None else inputs.labels[rows, column]
        frame[label_column(name)] = pd.array(known, dtype="Float64").astype("Int8")
    return frame


def picks_of(frame: pd.DataFrame, inputs: MiningInputs, batch: Batch, categories) -> list[Pick]:
    """What the bandit must remember of each pick to reward it later."""
    flagged = inputs.scores[batch.indices] >= inputs.thresholds
    picks = []
    for row, (item, strategy) in enumerate(zip(frame["id"], batch.strategies, strict=True)):
        known = {}
        if inputs.labels is not None:
            labels = inputs.labels[batch.indices[row]]
            known = {
                name: int(value)
                for name, value in zip(categories, labels, strict=True)
                if not np.isnan(value)
            }
        chosen = [name for name, hit in zip(categories, flagged[row], strict=True) if hit]
        picks.append(Pick(id=str(item), strategy=strategy, flagged=chosen, known=known))
    return picks


def default_strategies(labels: np.ndarray | None, count: int, anchored: bool) -> list[str]:
    """Every strategy that can run on these items."""
    return [
        name
        for name in STRATEGIES
        if missing_input(name, labels, count, baseline=True, anchored=anchored) is None
    ]


def mine(
    model: ModerationModel,
    items: pd.DataFrame,
    budget: int,
    state: BanditState | None = None,
    chosen: list[str] | None = None,
    violations: list[str] | None = None,
    seed: int = 0,
    batch_size: int = 64,
    track: Track = _no_progress,
    reward: Reward = "errors",
) -> tuple[pd.DataFrame, BanditState]:
    """The next batch of ``budget`` items to annotate, and the bandit state with its round
    pending. A new state (``state`` None) takes the ``chosen`` strategies, or every one the
    items allow, and the ``reward``; an existing one keeps its own. A bad request fails before
    any scoring."""
    if budget <= 0:
        raise ModpipeError(f"the batch size must be at least 1, not {budget}")
    if state is not None:
        _check_continues(state, model.categories, chosen)
    labels = known_labels(items, model.categories)
    anchored = bool(violations) or bool(violating_rows(labels, len(items)).any())
    if state is None:
        names = chosen or default_strategies(labels, len(items), anchored)
        state = new_state(names, model.categories, seed, reward)
    check_request(state.strategies, budget, labels, len(items), anchored=anchored)
    texts = items["text"].tolist()
    inputs = mining_inputs(model, texts, labels, violations, batch_size, state.seed, track)
    batch = assemble(inputs, allocate(state, budget))
    frame = batch_frame(items, inputs, batch, model.categories, len(state.rounds) + 1)
    return frame, start_round(state, picks_of(frame, inputs, batch, model.categories))


def _check_continues(state: BanditState, categories: list[str], chosen: list[str] | None):
    """An existing state goes on only with the same categories and strategies, once its last
    round is labelled."""
    if state.pending is not None:
        raise ModpipeError(
            f"round {state.pending.number}'s batch is still waiting for its labels: record them "
            "with 'modpipe mine --reward LABELLED_BATCH --state STATE' first"
        )
    if state.categories != categories:
        raise ModpipeError(
            f"the state is for categories {', '.join(state.categories)}, the model has "
            f"{', '.join(categories)}: start a new state file"
        )
    if chosen and chosen != state.strategies:
        raise ModpipeError(
            f"the state's strategies are {', '.join(state.strategies)}; to use others, "
            "start a new state file"
        )


def write_batch(frame: pd.DataFrame, path: Path) -> Path:
    """The batch as CSV or JSON lines, by the file's suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise ModpipeError(f"{path}: the batch is written as .csv or .jsonl, not {suffix!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    return path
