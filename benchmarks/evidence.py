"""Evidence quality on the Toxic Spans SemEval-2021 Task 5 split (BENCHMARKS.md, "Evidence
quality"): all-MiniLM-L6-v2 fine-tuned with the evidence head (components.model.evidence_head) on
tsd_train, scored on tsd_test as the task scores it by the head alone, by the evidence lexicon
learnt with it alone, and by the two joined (components.model.evidence_lexicon), each at the
character threshold it reaches best on tsd_trial; and the classification metrics of that model
and of one trained without the head.

Rows: the SemEval posts with their gold offsets as ``toxic`` evidence spans, and the labels the
Toxic Spans importer gives the same posts (majority of annotators: toxic, insult, profanity,
identity_attack, threat). ``--more-posts`` also trains on the Toxic Spans posts outside the
SemEval splits (released with the ACL 2022 paper), with the union of their annotators' spans as
toxic evidence (the rule the train split's gold follows: BENCHMARKS.md); a post whose text, cased
and punctuated aside, is a trial or test post's is left out. Each figure is given at the
character threshold chosen on trial and at the service's fixed cut-off
(components.model.evidence.CUTOFF). ``--pooling mean``: the category head reads the mean of the
token vectors (components.model.mean_pooling) instead of the first token.

Predicted offsets: the characters whose toxic evidence score reaches the threshold, with
whitespace between two of them filled in (a gold span of several words holds its spaces; no
token covers them). Scoring: per post, F1 of predicted against gold character offsets (1 when
both are empty, 0 when only one is), averaged over posts.

    .venv/bin/python benchmarks/evidence.py [--epochs 1] [--more-posts] [--pooling mean] [--seed N]
        [--limit N]
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import re
import tempfile
import time
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd

from components.config import Pooling, TrainConfig
from components.data.canonical import Taxonomy
from components.data.toxic_spans import import_toxic_spans
from components.model.evidence import CUTOFF
from components.model.evidence_quality import character_f1
from components.model.metrics import compute_metrics, label_matrix
from components.model.modeling import ModerationModel
from components.model.training import train_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "toxic-spans"
RESULTS = Path("runs") / "benchmarks"  # evidence.json, evidence-more-posts.json
THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


def runs(offsets: list[int]) -> list[tuple[int, int]]:
    """Contiguous character offsets as (start, end) slices."""
    spans: list[list[int]] = []
    for offset in sorted(set(offsets)):
        if spans and offset == spans[-1][1]:
            spans[-1][1] += 1
        else:
            spans.append([offset, offset + 1])
    return [tuple(span) for span in spans]


def semeval_rows(split: str, imported: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    """One SemEval split as canonical rows: gold offsets as toxic evidence, importer labels."""
    posts = pd.read_csv(DATA / f"tsd_{split}.csv").head(limit)
    gold = posts["spans"].map(ast.literal_eval)
    evidence = [
        {"evidence": [{"start": s, "end": e, "type": "toxic"} for s, e in runs(offsets)]}
        if offsets
        else None
        for offsets in gold
    ]
    frame = imported.loc[posts["text"]].reset_index()
    return frame.assign(
        id=[f"tsd-{split}-{i}" for i in range(len(posts))], rationale=evidence, gold=gold
    )


def _plain(text: str) -> str:
    return re.sub(r"\W+", "", text.lower())


def outside_rows(imported: pd.DataFrame, parts: dict) -> pd.DataFrame:
    """The posts in no SemEval split (nor equal to a trial or test post, plainly written) as
    train rows: importer labels, every annotator's span as toxic evidence."""
    semeval = {text for frame in parts.values() for text in frame["text"]}
    held_out = {_plain(text) for split in ("trial", "test") for text in parts[split]["text"]}
    rows = imported[~imported.index.isin(semeval)].reset_index()
    rows = rows[~rows["text"].map(_plain).isin(held_out)]
    spans = [[span | {"type": "toxic"} for span in r["evidence"]] for r in rows["rationale"]]
    return rows.assign(
        id=[f"toxic-spans-outside-{i}" for i in range(len(rows))],
        rationale=[{"evidence": found} if found else None for found in spans],
    )


def predicted_offsets(text: str, scores: np.ndarray, threshold: float) -> set[int]:
    chosen = np.flatnonzero(scores >= threshold)
    offsets = set(chosen.tolist())
    for before, after in zip(chosen, chosen[1:], strict=False):
        if after - before > 1 and text[before + 1 : after].isspace():
            offsets.update(range(before + 1, after))
    return offsets


def mean_f1(frame: pd.DataFrame, scores: list[np.ndarray], threshold: float) -> float:
    return float(
        np.mean(
            [
                character_f1(predicted_offsets(text, s, threshold), set(gold))
                for text, s, gold in zip(frame["text"], scores, frame["gold"], strict=True)
            ]
        )
    )


def classification(model: ModerationModel, frame: pd.DataFrame) -> dict:
    scores = model.predict_scores(frame["text"].tolist())
    metrics = compute_metrics(
        label_matrix(frame, model.categories), scores, model.categories, model.thresholds
    )
    return {
        "macro_pr_auc": metrics["macro"]["pr_auc"],
        "pr_auc": {c: m["pr_auc"] for c, m in metrics["per_category"].items()},
    }


def train(config: TrainConfig, parts: dict, taxonomy: Taxonomy, work: Path) -> tuple:
    started = time.perf_counter()
    result = train_model(parts["train"], parts["trial"], taxonomy, config, work, progress=False)
    seconds = time.perf_counter() - started
    return ModerationModel.load(result.model_dir, device="cpu"), seconds, result.best_epoch


def scored(model: ModerationModel, texts: list[str], scorer: str) -> list[np.ndarray]:
    """Each text's toxic evidence scores by the head alone, the lexicon alone, or both joined
    (as the model scores them: components.model.evidence_lexicon)."""
    toxic = model.categories.index("toxic")
    lexicon = model.evidence_lexicon
    if scorer == "lexicon":
        return [lexicon.character_scores(t, model.categories)[:, toxic] for t in texts]
    model.evidence_lexicon = lexicon if scorer == "joined" else None
    try:
        return [s[:, toxic] for s in model.evidence_scores(texts)]
    finally:
        model.evidence_lexicon = lexicon


def evidence_figures(model: ModerationModel, parts: dict, scorer: str) -> dict:
    started = time.perf_counter()
    trial = scored(model, parts["trial"]["text"].tolist(), scorer)
    by_threshold = {float(t): mean_f1(parts["trial"], trial, t) for t in THRESHOLDS}
    threshold = max(by_threshold, key=by_threshold.get)
    test = scored(model, parts["test"]["text"].tolist(), scorer)
    seconds = time.perf_counter() - started
    empty = parts["test"]["gold"].map(len) == 0
    test_f1 = [
        character_f1(predicted_offsets(text, s, threshold), set(gold))
        for text, s, gold in zip(parts["test"]["text"], test, parts["test"]["gold"], strict=True)
    ]
    at_cutoff = mean_f1(parts["test"], test, CUTOFF)
    return {
        "threshold": threshold,
        "trial_f1": by_threshold[threshold],
        "trial_f1_at_cutoff": by_threshold.get(CUTOFF),
        "test_f1_at_cutoff": at_cutoff,
        "test_f1": float(np.mean(test_f1)),
        "test_f1_posts_with_gold_spans": float(np.mean(np.asarray(test_f1)[~empty.to_numpy()])),
        "test_posts_without_gold_spans": int(empty.sum()),
        "scoring_seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--evidence-weight", type=float, default=1.0)
    parser.add_argument("--pooling", choices=get_args(Pooling), default="first_token")
    parser.add_argument(
        "--more-posts",
        action="store_true",
        help="also train on the Toxic Spans posts outside the SemEval splits",
    )
    parser.add_argument("--seed", type=int, default=TrainConfig().seed)
    parser.add_argument("--limit", type=int, help="the first N posts of each split (a dry run)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the model without head")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    card, imported = import_toxic_spans(DATA)
    imported = imported.drop_duplicates("text").set_index("text")
    imported = imported[[c for c in imported.columns if c.startswith("label_")] + ["rationale"]]
    parts = {s: semeval_rows(s, imported, args.limit) for s in ("train", "trial", "test")}
    if args.more_posts:
        outside = outside_rows(imported, parts).head(args.limit)
        parts["train"] = pd.concat([parts["train"], outside], ignore_index=True)
    taxonomy = Taxonomy(categories=card.categories)
    config = TrainConfig(
        max_length=args.max_length,
        epochs=args.epochs,
        patience=args.epochs,
        learning_rate=args.learning_rate,
        evidence_head=True,
        evidence_weight=args.evidence_weight,
        pooling=args.pooling,
        seed=args.seed,
    )
    work = Path(tempfile.mkdtemp(prefix="evidence-benchmark-"))
    logging.info("models in %s", work)
    results = {
        "more_posts": args.more_posts,
        "config": config.model_dump(mode="json"),
        "posts": {s: len(f) for s, f in parts.items()},
    }
    model, seconds, epoch = train(config, parts, taxonomy, work / "with-head")
    results["with_head"] = {
        "train_seconds": seconds,
        "best_epoch": epoch,
        "evidence": {s: evidence_figures(model, parts, s) for s in ("head", "lexicon", "joined")},
        **classification(model, parts["test"]),
    }
    print(json.dumps(results["with_head"], indent=2), flush=True)
    if not args.no_baseline:
        config = config.model_copy(update={"evidence_head": False})
        model, seconds, epoch = train(config, parts, taxonomy, work / "without-head")
        results["without_head"] = {
            "train_seconds": seconds,
            "best_epoch": epoch,
            **classification(model, parts["test"]),
        }
        print(json.dumps(results["without_head"], indent=2), flush=True)
    more = "-more-posts" if args.more_posts else ""
    pooling = "" if args.pooling == "first_token" else f"-{args.pooling}"  # the default unnamed
    seed = "" if args.seed == TrainConfig().seed else f"-seed{args.seed}"
    path = RESULTS / f"evidence{more}{pooling}{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
