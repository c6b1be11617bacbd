"""Recall: a pool of content -> shards -> scanned by the recall channels -> a review queue.

The three stages of the recall pipeline (workflows/recall_pipeline.py), also run one after
the other in one process by ``modpipe recall``:
- prepare: read and check the pool and the budget, cut the pool into shards;
- scan (one per shard, in parallel on a cluster): classifier scores, nearest known violations
  and listed terms, and each item's embedding;
- queue: fuse the channels into a risk, fold near-duplicates, keep the K riskiest clusters;
  write the queue, its HTML report and MLflow metrics.
"""

from __future__ import annotations

import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from components.config import PipelineConfig
from components.data.canonical import Taxonomy
from components.errors import ModpipeError
from components.model.modeling import ModerationModel, read_model_card
from components.model.neighbours import INDEX_DIR, ViolationIndex, read_entries, read_manifest
from components.recall.fusion import fuse
from components.recall.pool import read_pool, read_shard, write_shards
from components.recall.queue import build_queue, check_budget, queue_metrics, write_queue
from components.recall.report import write_recall_report
from components.recall.scan import scan_shard
from components.recall.terms import load_terms

SCANNED_FILE = "scanned.parquet"
EMBEDDINGS_FILE = "embeddings.npy"
REPORT_FILE = "report.html"


def prepare_stage(config: PipelineConfig, pool_path: Path, budget: int, shards: Path) -> list[str]:
    """The pool checked whole (and the budget against it), as shards; returns their names."""
    pool = read_pool(pool_path)
    check_budget(budget, len(pool))
    names = write_shards(pool, shards, config.recall.shard_size)
    mlflow.log_params({"pool": str(pool_path), "pool.items": len(pool), "pool.shards": len(names)})
    return names


def index_folder(model_dir: Path, index_dir: Path | None) -> Path:
    """Where the known-violation index is: ``index_dir``, else the model's own."""
    return Path(index_dir) if index_dir else Path(model_dir) / INDEX_DIR


def load_index(model: ModerationModel, model_dir: Path, index_dir: Path | None):
    """The known-violation index (:func:`index_folder`); None when the model has none."""
    folder = index_folder(model_dir, index_dir)
    if index_dir is None and not folder.is_dir():
        return None
    return ViolationIndex.load(folder, model.encoder_id)


def scan_stage(
    config: PipelineConfig,
    model_dir: Path,
    shard: Path,
    output: Path,
    index_dir: Path | None = None,
    progress: bool = False,
    model: ModerationModel | None = None,
) -> int:
    """Scan one shard into ``output`` (its rows with the channels' columns, and embeddings)."""
    model = model or ModerationModel.load(model_dir)
    settings = config.recall
    index = load_index(model, model_dir, index_dir)
    terms = load_terms(settings.terms, model.categories) if settings.terms else None
    scanned = scan_shard(
        model, read_shard(shard), index, terms, settings.neighbours, settings.batch_size, progress
    )
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    scanned.frame.to_parquet(output / SCANNED_FILE, index=False)
    np.save(output / EMBEDDINGS_FILE, scanned.embeddings.astype(np.float16))  # half the bytes
    return len(scanned.frame)


def _match_cutoffs(config: PipelineConfig, folder: Path) -> dict:
    """The similarity channel's cut-offs: the setting's, else the index's calibrated ones."""
    if not folder.is_dir():
        return {}
    return read_manifest(folder).match_cutoffs(config.recall.match_similarity, {})


def _excerpts(folder: Path) -> dict[str, str]:
    return {e.id: e.excerpt for e in read_entries(folder)} if folder.is_dir() else {}


def queue_stage(
    config: PipelineConfig,
    model_dir: Path,
    scanned: list[Path],
    budget: int,
    output: Path,
    index_dir: Path | None = None,
) -> dict[str, float]:
    """Fuse, fold and rank the scanned shards into the queue in ``output``; returns metrics."""
    started = time.perf_counter()
    card = read_model_card(model_dir)
    frames = [pd.read_parquet(Path(folder) / SCANNED_FILE) for folder in scanned]
    if not frames:
        raise ModpipeError("no scanned shards to build a queue from")
    embeddings = np.concatenate([np.load(Path(f) / EMBEDDINGS_FILE) for f in scanned])
    taxonomy = Taxonomy(categories=card.categories)
    folder = index_folder(model_dir, index_dir)
    cutoffs = _match_cutoffs(config, folder)
    fused = fuse(
        pd.concat(frames, ignore_index=True), taxonomy, card.thresholds, config.recall, cutoffs
    )
    excerpts = _excerpts(folder)
    queue = build_queue(
        fused,
        embeddings,
        budget,
        config.recall,
        lambda known: excerpts.get(known, ""),
        taxonomy.names,
    )
    metrics = queue_metrics(queue, len(fused), taxonomy.names)
    metrics["queue.seconds"] = time.perf_counter() - started
    title = f"Review queue: {len(queue)} of {len(fused)} items"
    write_queue(
        queue,
        output,
        {REPORT_FILE: lambda path: write_recall_report(queue, metrics, title, path)},
    )
    mlflow.log_metrics(metrics)
    mlflow.log_artifact(str(Path(output) / REPORT_FILE))
    return metrics
