"""The starter mixture: what training on every public source buys, per source, on one test split.

Models, all scored by the pipeline's own evaluation code (thresholds chosen on validation):
- the starter model: all-MiniLM-L6-v2 fine-tuned on the starter preset's mixture;
- the seed model: the same encoder fine-tuned on the synthetic seed corpus alone;
- TF-IDF + logistic regression fitted on the same mixture.
Then leave-one-source-out: for each public training source, a model trained on every other
source and tested on the one left out (all of its rows: it never saw any of them).

    MODPIPE_DATA_MIRROR=../shared/data .venv/bin/python benchmarks/mixture.py \\
        [--epochs 2] [--tfidf-only] [--loso-epochs 1] [--starter-model models:/NAME/VERSION]
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
from tfidf import tfidf_logistic_regression  # benchmarks/, the script's own folder

from components.config import load_config
from components.data.canonical import read_dataset
from components.data.source import fetch_dataset
from components.data.split import split_dataset, split_frames
from components.model.metrics import evaluate_scorer
from components.model.modeling import ModerationModel
from components.model.training import train_model
from components.registry.models import load_model

PRESET = Path("configs/starter.yaml")
RESULTS = Path("runs") / "benchmarks" / "mixture.json"
SEED_SOURCE = "seed"


def starter_mixture(work_prefix: str, sources: dict[str, int] | None = None):
    """The preset, a work folder, and its mixture (fetched there) split as the pipeline does:
    ``(config, work, info, card, frame)``. ``sources``: only these, each capped at its rows."""
    config = load_config(PRESET)
    if sources:
        kept = [
            source.model_copy(update={"max_rows": sources[source.name]})
            for source in config.data.sources
            if source.name in sources
        ]
        config.data.sources = kept
    work = Path(tempfile.mkdtemp(prefix=work_prefix))
    info = fetch_dataset(config.data, work / "data")
    card, frame = read_dataset(work / "data")
    split = config.split
    frame = split_dataset(frame, split.validation_fraction, split.test_fraction, split.seed)
    return config, work, info, card, frame


def encoder_scorer(config, parts, card, work: Path, epochs: int):
    """Fine-tune the preset's encoder on ``parts``; its scorer and the training seconds."""
    settings = config.train.model_copy(update={"epochs": epochs})
    started = time.perf_counter()
    trained = train_model(
        parts["train"], parts["validation"], card, settings, work / "model", work / "checkpoints"
    )
    seconds = time.perf_counter() - started
    model = ModerationModel.load(trained.model_dir)
    return lambda texts: model.predict_scores(texts, config.evaluate.batch_size), seconds


def labelled(card, frame: pd.DataFrame):
    """The card cut to the categories ``frame`` has a known positive and negative for."""
    names = [
        c
        for c in card.names
        if frame[f"label_{c}"].notna().any() and frame[f"label_{c}"].nunique() == 2
    ]
    return card.subset(names)


def summary(name: str, result: dict, seconds: float) -> dict:
    """Whole-split and per-source macro PR-AUC, and F1 per category."""
    metrics = result["metrics"]
    return {
        "model": name,
        "train_seconds": round(seconds, 1),
        "macro_pr_auc": metrics["macro"]["pr_auc"],
        "macro_f1": metrics["macro"]["f1"],
        "f1": {c: m["f1"] for c, m in metrics["per_category"].items()},
        "by_source": {
            source: {
                "macro_pr_auc": m["macro"]["pr_auc"],
                "f1": {c: v["f1"] for c, v in m["per_category"].items()},
            }
            for source, m in metrics.get("by_source", {}).items()
        },
    }


def compare_models(config, card, parts, work: Path, args) -> list[dict]:
    rows = []
    started = time.perf_counter()
    predict = tfidf_logistic_regression(parts["train"], card.names)
    result = evaluate_scorer(predict, parts, card, config.evaluate)
    rows.append(summary("TF-IDF + logistic regression", result, time.perf_counter() - started))
    if args.tfidf_only:
        return rows
    seed = {n: p[p["source"] == SEED_SOURCE] for n, p in parts.items() if n != "test"}
    seed_card = labelled(card, seed["train"])
    predict, seconds = encoder_scorer(config, seed, seed_card, work / "seed", args.epochs)
    result = evaluate_scorer(predict, {**seed, "test": parts["test"]}, seed_card, config.evaluate)
    rows.append(summary("MiniLM fine-tuned on the seed corpus alone", result, seconds))
    if args.starter_model:  # the pipeline's own model: the same preset, so the same split
        model = load_model(args.starter_model)
        scorer = restricted(model.predict_scores, model.categories, card.names)
        predict, seconds = scorer, float("nan")
    else:
        predict, seconds = encoder_scorer(config, parts, card, work / "starter", args.epochs)
    result = evaluate_scorer(predict, parts, card, config.evaluate)
    rows.append(summary("MiniLM fine-tuned on the starter mixture", result, seconds))
    return rows


def restricted(predict, names: list[str], keep: list[str]):
    columns = [names.index(c) for c in keep]
    return lambda texts: predict(texts)[:, columns]


def leave_one_out(config, card, frame, work: Path, args) -> list[dict]:
    """Train on every source but one (its train and validation rows), test on all of the one
    left out, over the categories both have labels for."""
    rows = []
    public = [s.name for s in config.data.sources if s.role == "training" and s.name != SEED_SOURCE]
    for left_out in public:
        rest = frame[(frame["source"] != left_out) & (frame["split"] != "test")]
        parts = {n: rest[rest["split"] == n] for n in ("train", "validation")}
        parts["test"] = frame[frame["source"] == left_out]
        model_card = labelled(card, parts["train"])
        tested = labelled(card, parts["test"]).names
        shared = model_card.subset([c for c in model_card.names if c in tested])
        scorers = {"TF-IDF": (tfidf_logistic_regression(parts["train"], model_card.names), 0.0)}
        if not args.tfidf_only:
            folder = work / f"loso-{left_out}"
            scorers["MiniLM"] = encoder_scorer(config, parts, model_card, folder, args.loso_epochs)
        for model, (predict, seconds) in scorers.items():
            scorer = restricted(predict, model_card.names, shared.names)
            result = evaluate_scorer(scorer, parts, shared, config.evaluate)
            rows.append({"left_out": left_out, **summary(model, result, seconds)})
    return rows


def _cell(value) -> str:
    return "–" if value is None or value != value else f"{value:.3f}"


def markdown(results: dict, categories: list[str]) -> str:
    """The tables for BENCHMARKS.md: per-source macro PR-AUC, per-category F1, and
    leave-one-source-out."""
    models = results["models"]
    sources = list(models[0]["by_source"])
    lines = ["| model | whole test split | " + " | ".join(sources) + " |"]
    lines.append("|---" * (len(sources) + 2) + "|")
    for row in models:
        cells = [_cell(row["by_source"].get(s, {}).get("macro_pr_auc")) for s in sources]
        lines.append(
            f"| {row['model']} | {_cell(row['macro_pr_auc'])} | " + " | ".join(cells) + " |"
        )
    lines += ["", "| F1 at the thresholds | " + " | ".join(categories) + " |"]
    lines.append("|---" * (len(categories) + 1) + "|")
    for row in models:
        cells = [_cell(row["f1"].get(c)) for c in categories]
        lines.append(f"| {row['model']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| left out | model | categories | macro PR-AUC | macro F1 |",
        "|---|---|---|---|---|",
    ]
    for row in results["leave_one_source_out"]:
        shared = ", ".join(row["f1"])
        lines.append(
            f"| {row['left_out']} | {row['model']} | {shared} | {_cell(row['macro_pr_auc'])} "
            f"| {_cell(row['macro_f1'])} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    parser.add_argument("--loso-epochs", type=int, default=1)
    parser.add_argument("--tfidf-only", action="store_true", help="the minutes-long part only")
    parser.add_argument(
        "--starter-model",
        help="score this model (e.g. models:/moderation-classifier/3, from "
        "`modpipe run -c configs/starter.yaml`) instead of training the starter model again",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    config, work, info, card, frame = starter_mixture("mixture-benchmark-")
    args.epochs = args.epochs or config.train.epochs
    parts = split_frames(frame)
    print(f"mixture in {time.perf_counter() - started:.0f} s: {info['version']}")
    print({name: len(part) for name, part in parts.items()}, info["sources"])
    results = {
        "sources": info["sources"],
        "models": compare_models(config, card, parts, work, args),
        "leave_one_source_out": leave_one_out(config, card, frame, work, args),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(markdown(results, card.names))
    print(f"in {time.perf_counter() - started:.0f} s; details in {RESULTS}")


if __name__ == "__main__":
    main()
