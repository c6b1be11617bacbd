"""The review queue: the K campaigns of a pool with the strongest evidence, riskiest first
(severity-weighted, components.recall.fusion), each saying why it is there.

A queue row is one cluster's representative: its rank, id, text and metadata, fused risk, top
category and classifier score, the channels that recalled it, its nearest known violation
(id, similarity, excerpt), the listed term it contains, and its cluster's size and first ids.
The queue is written whole or not at all: to a staging folder, renamed into place at the end.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from components.config import RecallConfig
from components.errors import ModpipeError
from components.recall.clusters import Clusters, cluster
from components.recall.scan import nearest_column, score_column, similarity_column, term_column

QUEUE_PARQUET = "queue.parquet"
QUEUE_JSONL = "queue.jsonl"
CANDIDATES_PER_SLOT = 5  # items clustered per queue slot (a campaign's copies rank together)
CLUSTER_IDS_SHOWN = 10
QUEUE_COLUMNS = [
    "rank",
    "id",
    "text",
    "risk",
    "evidence",
    "category",
    "score",
    "channels",
    "nearest_id",
    "nearest_similarity",
    "nearest_excerpt",
    "term",
    "cluster_size",
    "cluster_ids",
]


def check_budget(budget: int, pool_size: int) -> None:
    if budget <= 0:
        raise ModpipeError(f"the budget must be at least 1 item, not {budget}")
    if budget > pool_size:
        raise ModpipeError(f"a budget of {budget} is more than the pool's {pool_size} items")


def channel_columns(categories: list[str]) -> list[str]:
    return [
        column(c)
        for c in categories
        for column in (score_column, similarity_column, nearest_column, term_column)
    ]


def build_queue(
    fused: pd.DataFrame,
    embeddings: np.ndarray,
    budget: int,
    settings: RecallConfig,
    excerpt_of: Callable[[str], str],
    categories: list[str],
) -> pd.DataFrame:
    """The queue of ``budget`` rows (fewer when the pool has fewer clusters)."""
    check_budget(budget, len(fused))
    found = cluster(  # what enters the queue: the strongest evidence, whatever the category
        fused["evidence"].to_numpy(),
        fused["text"],
        embeddings,
        limit=budget,
        candidates=budget * CANDIDATES_PER_SLOT,
        similarity=settings.duplicate_similarity,
        min_overlap=settings.duplicate_overlap,
    )
    by_risk = np.argsort(-fused["risk"].to_numpy()[found.leaders], kind="stable")
    found = Clusters(
        found.leaders[by_risk], found.size[by_risk], [found.members[i] for i in by_risk]
    )
    leaders = fused.iloc[found.leaders].reset_index(drop=True)
    ids = fused["id"].to_numpy()
    terms = np.array(
        [row[term_column(row["category"])] for _, row in leaders.iterrows()], dtype=object
    )
    queue = leaders.assign(
        rank=np.arange(1, len(leaders) + 1),
        nearest_excerpt=[excerpt_of(known) for known in leaders["nearest_id"]],
        term=terms,
        cluster_size=found.size,
        cluster_ids=[",".join(ids[m[:CLUSTER_IDS_SHOWN]]) for m in found.members],
    )
    metadata = [c for c in fused.columns if c not in {*QUEUE_COLUMNS, *channel_columns(categories)}]
    return queue[QUEUE_COLUMNS + metadata]


def queue_metrics(queue: pd.DataFrame, pool_size: int, categories: list[str]) -> dict[str, float]:
    """What MLflow records of a queue."""
    channels = queue["channels"].str.split(",").explode()
    metrics = {
        "pool.items": pool_size,
        "queue.items": len(queue),
        "queue.items_covered": int(queue["cluster_size"].sum()),
        "queue.largest_cluster": int(queue["cluster_size"].max()),
        "queue.risk_min": float(queue["risk"].min()),
        "queue.risk_median": float(queue["risk"].median()),
    }
    for name in ("classifier", "similarity", "terms"):
        metrics[f"queue.recalled_by.{name}"] = int((channels == name).sum())
    for category in categories:
        metrics[f"queue.category.{category}"] = int((queue["category"] == category).sum())
    return metrics


def write_queue(queue: pd.DataFrame, directory: Path, extra: dict[Path, Callable]) -> Path:
    """The queue (Parquet and JSONL) and ``extra`` files (name -> writer(path)) in
    ``directory``, which appears only once all of them are written."""
    directory = Path(directory)
    staging = directory.with_name(f".{directory.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        queue.to_parquet(staging / QUEUE_PARQUET, index=False)
        with open(staging / QUEUE_JSONL, "w", encoding="utf-8") as out:
            for record in queue.to_dict("records"):
                out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        for name, writer in extra.items():
            writer(staging / name)
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory
