"""Recall benchmark: how much of a pool's violating content a review queue of K items reaches.

Coverage (one trained model and the dataset it was trained on, with its splits):
- the pool, labels hidden: benign rows (the test split's and the train split's: the classifier
  has seen the latter, which favours it, never the fused queue) with violations made rare
  (``--violation-share`` of the pool) the way a day's content is, of three kinds: fresh
  violations (the test split's); re-uploads of known violations (train positives, one word
  obfuscated in a random style, components.data.obfuscate); and campaigns (test violations
  copied with small edits: case, punctuation, a tag appended). The validation split stays
  out: the index's match cut-offs are calibrated on its negatives, as the pipeline does;
- K = ``--budget-share`` of the pool; three queues: random, the classifier alone (top K by
  its highest category score, as ``/rank`` orders), and the fused recall queue (classifier,
  known-violation index of the train positives, the starter term lists; near-duplicates
  folded);
- coverage: the share of the pool's violations in the queue; for the fused queue also with
  its clusters' members (a reviewer actions a campaign through its representative).

Scale: scanning throughput (classifier, embeddings, index search, terms) against the
classifier alone in the same process on the same texts (``--scale-texts``), and optionally
(``--million``) a 1,000,000-item pool end to end in one process (read, shard, scan, fuse,
cluster, write): with the tiny encoder by default (minutes: the pipeline's own costs at that
size, plus the model time implied by the measured throughput), or with MODEL_DIR's encoder
(``--million-encoder model``; MiniLM took 83 minutes on 2 cores).

    .venv/bin/python benchmarks/recall.py --model MODEL_DIR --data DATA_DIR \
        [--million [--million-encoder model]] [--skip-coverage]

MODEL_DIR: a trained model folder (e.g. a `modpipe run -c configs/starter.yaml` champion);
DATA_DIR: the dataset it was trained on, split again as the preset (``--preset``) splits it.
Results: runs/benchmarks/recall.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from components.config import PipelineConfig, RecallConfig, load_config
from components.data.canonical import read_dataset
from components.data.obfuscate import STYLES, obfuscate
from components.data.split import split_dataset, split_frames
from components.model.metrics import label_matrix
from components.model.modeling import TINY_BASE_MODEL, ModerationModel, build_classifier
from components.model.neighbours import INDEX_DIR, calibrate_cutoffs, index_known_violations
from components.recall.clusters import cluster
from components.recall.fusion import fuse
from components.recall.queue import CANDIDATES_PER_SLOT
from components.recall.scan import scan_shard
from components.recall.terms import TERMS_FILE, load_terms, write_starter_terms

RESULTS = Path("runs/benchmarks/recall.json")
EDITS = (str.upper, str.lower, lambda t: t + "!!", lambda t: t + " #deal", lambda t: "RT " + t)


def violating(frame: pd.DataFrame, categories: list[str]) -> np.ndarray:
    return (label_matrix(frame, categories) == 1).any(axis=1)


def build_pool(parts: dict, categories: list[str], args) -> pd.DataFrame:
    """Benign rows plus rare violations: fresh, re-uploaded and campaigns. The validation
    split stays out: the index's match cut-offs are calibrated on it."""
    held_out = parts["test"]
    bad = violating(held_out, categories)
    train = parts["train"]
    benign = pd.concat([held_out[~bad], train[~violating(train, categories)]], ignore_index=True)
    total_bad = int(round(len(benign) * args.violation_share / (1 - args.violation_share)))
    fresh_n, reupload_n = int(total_bad * 0.5), int(total_bad * 0.25)
    campaign_n = total_bad - fresh_n - reupload_n
    positives = held_out[bad].sample(frac=1.0, random_state=args.seed)
    fresh = positives.iloc[:fresh_n]
    train_bad = parts["train"][violating(parts["train"], categories)]
    sources = train_bad.sample(n=reupload_n, random_state=args.seed)
    text_rng = random.Random(args.seed)
    reuploads = sources.assign(
        text=[obfuscate(t, text_rng.choice(STYLES), text_rng) for t in sources["text"]]
    )
    seeds = positives.iloc[fresh_n : fresh_n + args.campaigns]
    campaign = [
        EDITS[i % len(EDITS)](seeds["text"].iloc[i % len(seeds)]) for i in range(campaign_n)
    ]
    rows = [
        benign[["text"]].assign(kind="benign"),
        fresh[["text"]].assign(kind="fresh"),
        reuploads[["text"]].assign(kind="re-upload"),
        pd.DataFrame({"text": campaign, "kind": "campaign"}),
    ]
    pool = pd.concat(rows, ignore_index=True).sample(frac=1.0, random_state=args.seed)
    pool = pool.reset_index(drop=True)
    pool.insert(0, "id", [f"item-{i}" for i in range(len(pool))])
    return pool


def coverage(queue_rows: np.ndarray, is_bad: np.ndarray) -> float:
    return float(is_bad[queue_rows].sum() / is_bad.sum())


def coverage_run(model: ModerationModel, parts: dict, work: Path, args) -> dict:
    settings = RecallConfig()
    categories = model.categories
    started = time.perf_counter()
    index = index_known_violations(model, parts["train"], work / INDEX_DIR, 200_000)
    cutoffs = calibrate_cutoffs(index, model, parts["validation"])
    index_seconds = time.perf_counter() - started
    print(f"index of {len(index)}, match cut-offs {cutoffs}", flush=True)
    terms = load_terms(work / "terms" / TERMS_FILE, categories)
    pool = build_pool(parts, categories, args)
    is_bad = (pool["kind"] != "benign").to_numpy()
    budget = max(1, int(round(len(pool) * args.budget_share)))
    print(f"pool {len(pool)} items, {is_bad.sum()} violating, K = {budget}", flush=True)
    started = time.perf_counter()
    scanned = scan_shard(model, pool, index, terms, settings.neighbours, 64, progress=True)
    scan_seconds = time.perf_counter() - started
    fused = fuse(scanned.frame, model.taxonomy, model.thresholds, settings, cutoffs)
    found = cluster(  # as build_queue clusters, keeping every member of each cluster
        fused["evidence"].to_numpy(),
        fused["text"],
        scanned.embeddings,
        limit=budget,
        candidates=budget * CANDIDATES_PER_SLOT,
        similarity=settings.duplicate_similarity,
        min_overlap=settings.duplicate_overlap,
    )
    members = np.concatenate(found.members)
    top_score = fused[[c for c in fused.columns if c.startswith("score_")]].max(axis=1)
    classifier = np.argsort(-top_score.to_numpy(), kind="stable")[:budget]
    random_rows = np.random.default_rng(args.seed).choice(len(pool), budget, replace=False)
    kinds = pool["kind"].to_numpy()

    def share(rows: np.ndarray, kind: str) -> float:
        return float((kinds[rows] == kind).sum() / (kinds == kind).sum())

    result = {
        "pool": len(pool),
        "violations": int(is_bad.sum()),
        "budget": budget,
        "index_items": len(index),
        "match_cutoffs": cutoffs,
        "index_seconds": index_seconds,
        "scan_seconds": scan_seconds,
        "random": coverage(random_rows, is_bad),
        "classifier": coverage(classifier, is_bad),
        "fused_items": coverage(found.leaders, is_bad),
        "fused_with_clusters": coverage(members, is_bad),
        "by_kind": {
            kind: {
                "classifier": share(classifier, kind),
                "fused_items": share(found.leaders, kind),
                "fused_with_clusters": share(members, kind),
            }
            for kind in ("fresh", "re-upload", "campaign")
        },
        "queue_channels": fused.iloc[found.leaders]["channels"]
        .str.split(",")
        .explode()
        .value_counts()
        .to_dict(),
    }
    for name in ("fused_items", "fused_with_clusters"):
        result[f"ratio_{name}_to_classifier"] = result[name] / max(result["classifier"], 1e-9)
    return result


def _rate(work, texts: int) -> float:
    started = time.perf_counter()
    work()
    return texts / (time.perf_counter() - started)


def throughput(model: ModerationModel, parts: dict, work: Path, args) -> dict:
    """Texts/s of the scan (all channels) against the classifier alone, interleaved
    ``--repeats`` times on the same held-out texts, best of each (other work on the machine
    slows either)."""
    frame = parts["test"].head(args.scale_texts)[["id", "text"]].reset_index(drop=True)
    texts = frame["text"].tolist()
    index = index_known_violations(model, parts["train"], work / "throughput-index", 200_000)
    terms = load_terms(work / "terms" / TERMS_FILE, model.categories)
    model.predict_scores(texts[:128])  # warm up
    classifier, scan = [], []
    for _ in range(args.repeats):
        classifier.append(_rate(lambda: model.predict_scores(texts, 64), len(texts)))
        scan.append(_rate(lambda: scan_shard(model, frame, index, terms, 16, 64), len(texts)))
    return {
        "texts": len(texts),
        "torch_threads": torch.get_num_threads(),
        "classifier_texts_per_s": max(classifier),
        "scan_texts_per_s": max(scan),
        "ratio": max(scan) / max(classifier),
    }


def _tiny_like(model: ModerationModel) -> ModerationModel:
    return ModerationModel(
        *build_classifier(TINY_BASE_MODEL, model.taxonomy, seed=0),
        model.taxonomy,
        TINY_BASE_MODEL,
        max_length=64,
    )


def million_items(
    model: ModerationModel, parts: dict, work: Path, scan_rate: float, encoder: str
) -> dict:
    """1,000,000 items (real texts drawn with replacement) through ``modpipe recall``'s path in
    one process, with the tiny encoder (the pipeline's own time and peak memory at that size)
    or with ``model`` itself (the whole cost)."""
    from workflows.recall import run_recall

    scanner = model if encoder == "model" else _tiny_like(model)
    folder = scanner.save(work / "million-model")
    index_known_violations(scanner, parts["train"], folder / INDEX_DIR, 200_000)
    texts = pd.concat([part["text"] for part in parts.values()], ignore_index=True)
    rows = np.random.default_rng(0).integers(0, len(texts), 1_000_000)
    pool = work / "million.parquet"
    pd.DataFrame(
        {"id": [f"m{i}" for i in range(len(rows))], "text": texts.to_numpy()[rows]}
    ).to_parquet(pool, index=False)
    config = PipelineConfig(recall=RecallConfig(terms=work / "terms" / TERMS_FILE))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"  # not the workspace's
    started = time.perf_counter()
    result = run_recall(config, pool, 20_000, work / "million-queue", str(folder))
    seconds = time.perf_counter() - started
    return {
        "items": len(rows),
        "budget": 20_000,
        "seconds": seconds,
        "items_per_s": len(rows) / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "queue_items": result.metrics["queue.items"],
        "encoder": scanner.base_model,
        "model_hours_at_measured_scan_rate": len(rows) / scan_rate / 3600,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--preset", type=Path, default=Path("configs/starter.yaml"))
    parser.add_argument("--violation-share", type=float, default=0.03)
    parser.add_argument("--budget-share", type=float, default=0.02)
    parser.add_argument("--campaigns", type=int, default=5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--scale-texts", type=int, default=4000)
    parser.add_argument("--million", action="store_true")
    parser.add_argument(
        "--million-encoder",
        choices=("tiny", "model"),
        default="tiny",
        help="the 1M run's encoder: the tiny one (minutes) or MODEL_DIR's (MiniLM: 83 min)",
    )
    parser.add_argument("--skip-coverage", action="store_true", help="only the scale figures")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved throughput runs")
    args = parser.parse_args()
    model = ModerationModel.load(args.model)
    split = load_config(args.preset).split  # the split the model was trained on
    frame = read_dataset(args.data)[1]
    frame = split_dataset(frame, split.validation_fraction, split.test_fraction, split.seed)
    parts = split_frames(frame)
    with tempfile.TemporaryDirectory(prefix="recall-benchmark-") as folder:
        work = Path(folder)
        write_starter_terms(work / "terms")
        results = {} if args.skip_coverage else {"coverage": coverage_run(model, parts, work, args)}
        print(json.dumps(results, indent=2), flush=True)
        results["throughput"] = throughput(model, parts, work, args)
        print(json.dumps(results["throughput"], indent=2), flush=True)
        if args.million:
            rate = results["throughput"]["scan_texts_per_s"]
            results["million"] = million_items(model, parts, work, rate, args.million_encoder)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps(saved | results, indent=2))  # a partial run keeps the rest
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
