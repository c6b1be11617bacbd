"""Model quality where it matters: behaviour, identity bias, Davidson, SMS spam and long texts.

One split of the starter preset's mixture; every model is scored by the pipeline's own
evaluation code (thresholds chosen on validation, the behavioural suite and identity-term bias
at those thresholds):
- the starter model: all-MiniLM-L6-v2 fine-tuned on the starter preset, with its augmentation,
  soft labels and normalisation (or ``--starter-model``, the pipeline's own);
- ``--compare-model``: any registered model of the same preset, e.g. one trained before
  augmentation, to show what it changed;
- the seed model: the same encoder fine-tuned on the synthetic seed corpus alone;
- TF-IDF + logistic regression fitted on the mixture's train split.
Then the long-text case and the cost of windowing on the starter model.

    MODPIPE_DATA_MIRROR=../shared/data .venv/bin/python benchmarks/quality.py \\
        [--starter-model MODEL] [--seed-model MODEL] [--compare-model MODEL] [--epochs N]

A MODEL is a registry URI (models:/NAME/VERSION) or a saved model folder.
"""

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np
from davidson import three_class_figures  # benchmarks/, the script's own folder
from mixture import SEED_SOURCE, encoder_scorer, labelled, restricted, starter_mixture
from tfidf import tfidf_logistic_regression

from components.data.split import split_frames
from components.model.metrics import cutoffs, evaluate_scorer
from components.model.modeling import ModerationModel, Windows, sigmoid
from components.registry.models import load_model
from serving.batching import MicroBatcher

RESULTS = Path("runs") / "benchmarks" / "quality.json"
BENIGN = (
    "We met at the library on Saturday to plan the community garden, sort out the watering "
    "rota and choose which vegetables to grow along the fence this spring. Everyone brought a "
    "snack and the kids painted signs for each bed while we argued about tomatoes. "
)
THREAT = "I know where you live and I am going to kill you."


def davidson_figures(result: dict, parts: dict, categories: list[str]) -> dict:
    rows = {
        split: (parts[split]["source"] == "davidson").to_numpy() for split in ("validation", "test")
    }
    if not rows["test"].any() or not {"hate", "offensive"} <= set(categories):
        return {}
    columns = [categories.index("hate"), categories.index("offensive")]
    validation = tuple(part[rows["validation"]][:, columns] for part in result["validation"])
    test = tuple(part[rows["test"]][:, columns] for part in (result["y_true"], result["scores"]))
    hate = result["metrics"]["by_source"]["davidson"]["per_category"]["hate"]
    return {
        **three_class_figures(validation, test),
        "hate_pr_auc": hate["pr_auc"],
        "hate_threshold": hate["threshold"],
        "hate_precision": hate["precision"],
        "hate_recall": hate["recall"],
    }


def summary(name: str, result: dict, parts: dict, categories: list[str], seconds: float) -> dict:
    """The figures of one model; ``parts``: the splits it was scored on."""
    metrics = result["metrics"]
    quality = metrics["quality"]
    sms = metrics["by_source"].get("sms-spam", {}).get("per_category", {}).get("spam", {})
    return {
        "model": name,
        "train_seconds": round(seconds, 1),
        "macro_pr_auc": metrics["macro"]["pr_auc"],
        "behaviour": {
            "overall": quality["behaviour"]["overall"]["accuracy"],
            **{f: v["accuracy"] for f, v in quality["behaviour"]["functionalities"].items()},
        },
        "bias": {
            category: {
                "min_bpsn_auc": bias["summary"]["min_bpsn_auc"],
                "mean_fpr": bias["summary"]["mean_fpr"],
                "under_0.90": sum(
                    1
                    for term in bias["identities"].values()
                    if term["bpsn_auc"] is not None and term["bpsn_auc"] < 0.9
                ),
                "terms": len(bias["identities"]),
                "worst": {t: bias["identities"][t]["bpsn_auc"] for t in bias["worst"]},
                # the target is per term: every term's figures, not only the worst
                "by_term": {
                    t: {"bpsn_auc": v["bpsn_auc"], "fpr": v["fpr"]}
                    for t, v in bias["identities"].items()
                },
            }
            for category, bias in quality["bias"].items()
        },
        "failures": {f: v["failures"] for f, v in quality["behaviour"]["functionalities"].items()},
        "davidson": davidson_figures(result, parts, categories),
        "sms_spam_f1": sms.get("f1"),
        "thresholds": metrics["thresholds"],
    }


def compare_models(config, card, parts, work: Path, args):
    """Each model's summary, and the starter model (for the long-text figures)."""
    rows = []

    def scored(name, predict, scorer_card, scorer_parts, seconds):
        result = evaluate_scorer(predict, scorer_parts, scorer_card, config.evaluate)
        rows.append(summary(name, result, scorer_parts, scorer_card.names, seconds))
        print(json.dumps(rows[-1], default=str)[:2000], flush=True)

    started = time.perf_counter()
    predict = tfidf_logistic_regression(parts["train"], card.names)
    scored("TF-IDF + LR", predict, card, parts, time.perf_counter() - started)
    seed = {n: p[p["source"] == SEED_SOURCE] for n, p in parts.items() if n != "test"}
    seed_card = labelled(card, seed["train"])
    if args.seed_model:
        model, seconds = load_model(args.seed_model), float("nan")
        predict = restricted(model.predict_scores, model.categories, seed_card.names)
    else:
        predict, seconds = encoder_scorer(config, seed, seed_card, work / "seed", args.epochs)
    scored("seed only", predict, seed_card, {**seed, "test": parts["test"]}, seconds)
    for uri in args.compare_model:
        model = load_model(uri)
        predict = restricted(model.predict_scores, model.categories, card.names)
        scored(uri, predict, card, parts, float("nan"))
    if args.starter_model:
        starter, seconds = load_model(args.starter_model), float("nan")
    else:
        predict, seconds = encoder_scorer(config, parts, card, work / "starter", args.epochs)
        starter = ModerationModel.load(work / "starter" / "model")
    predict = restricted(starter.predict_scores, starter.categories, card.names)
    scored("starter", predict, card, parts, seconds)
    starter.thresholds.update(cutoffs(rows[-1]["thresholds"]))
    return rows, starter


def first_windows(windows: Windows) -> Windows:
    """Each text's first window alone: what truncation at the window length scores."""
    first = np.flatnonzero(np.r_[True, windows.owners[1:] != windows.owners[:-1]])
    return Windows([windows.input_ids[i] for i in first], windows.owners[first], windows.texts)


def pooled_scores(model: ModerationModel, windows: Windows) -> np.ndarray:
    """[texts, k] probabilities: the windows scored 64 at a time, each text's pooled."""
    ids = windows.input_ids
    logits = np.concatenate([model.score_windows(ids[i : i + 64]) for i in range(0, len(ids), 64)])
    return sigmoid(windows.pool(logits))


def texts_per_second(model: ModerationModel, texts: list[str], truncate: bool) -> float:
    started = time.perf_counter()
    windows = model.windows(texts)
    pooled_scores(model, first_windows(windows) if truncate else windows)
    return len(texts) / (time.perf_counter() - started)


def short_beside_long(model: ModerationModel, long: list[str]) -> dict:
    """Seconds to answer a one-text request sent just after a request of long texts, both
    through the service's batcher, and the long request's own seconds."""
    batcher = MicroBatcher(model.score_windows, max_batch_size=64)

    async def timed(texts: list[str], delay: float) -> float:
        await asyncio.sleep(delay)
        started = time.perf_counter()
        await batcher(model.windows(texts).input_ids)
        return time.perf_counter() - started

    async def both():
        return await asyncio.gather(timed(long, 0), timed(["you are lovely"], 0.05))

    long_seconds, short_seconds = asyncio.run(both())
    return {"long_request_s": long_seconds, "short_request_beside_it_s": short_seconds}


def threat_positions(model: ModerationModel, violence: int, threshold: float) -> dict:
    """The threat after the benign text's first n characters, for every n that ends a word up
    to 2,000 (with a space, as a writer would put it): one position's figure flips with where
    the window edges fall, the share flagged over all positions does not."""
    text = BENIGN * 16
    ends = [i for i, character in enumerate(text[:2001]) if character == " "]
    windows = model.windows([text[:end] + " " + THREAT for end in ends])
    whole = pooled_scores(model, windows)[:, violence]
    first = pooled_scores(model, first_windows(windows))[:, violence]
    return {
        "threat_positions": len(ends),
        "threat_flagged_share_windowed": float(np.mean(whole >= threshold)),
        "threat_flagged_share_truncated": float(np.mean(first >= threshold)),
        "threat_lowest_windowed": float(whole.min()),
        "threat_lowest_after_chars": ends[int(whole.argmin())],
    }


def long_texts(model: ModerationModel) -> dict:
    """The threat alone and after 300 and 1,000 characters of benign text (windowed, and cut to
    the first window), the share of positions where it is flagged, and texts/s for short and
    2,000-character texts with and without windows."""
    violence = model.categories.index("violence")
    texts = [THREAT, (BENIGN * 2)[:300] + THREAT, (BENIGN * 5)[:1000] + THREAT]
    windows = model.windows(texts)
    whole = pooled_scores(model, windows)[:, violence]
    cut = pooled_scores(model, first_windows(windows))[:, violence]
    short = [BENIGN[i : i + 120] for i in range(0, 120 * 5, 7)][:64] * 4
    long = [(BENIGN * 12)[i : i + 2000] for i in range(256)]
    threshold = model.thresholds["violence"]
    return {
        "violence_threshold": threshold,
        "threat_alone": float(whole[0]),
        **{f"threat_after_{n}_chars_windowed": float(whole[i]) for i, n in ((1, 300), (2, 1000))},
        **{f"threat_after_{n}_chars_truncated": float(cut[i]) for i, n in ((1, 300), (2, 1000))},
        "flagged_as_alone": bool(((whole >= threshold) == (whole[0] >= threshold)).all()),
        **threat_positions(model, violence, threshold),
        "windows_of_2000_chars": len(model.windows(long[:1]).input_ids),
        "short_texts_per_s": texts_per_second(model, short, truncate=False),
        "long_texts_per_s_windowed": texts_per_second(model, long, truncate=False),
        "long_texts_per_s_truncated": texts_per_second(model, long, truncate=True),
        **short_beside_long(model, long),
    }


def _cell(value) -> str:
    return "–" if value is None or value != value else f"{value:.3f}"


def per_term_bias(models: list[dict], head: str) -> list[str]:
    """Each identity term's BPSN AUC (and false-positive rate on its non-toxic sentences) per
    scored category and model: the target holds only if every row does."""

    def by_term(row: dict, category: str) -> dict:
        return row["bias"].get(category, {}).get("by_term", {})

    lines = []
    for category in dict.fromkeys(c for row in models for c in row["bias"]):
        lines += ["", f"| {category}: BPSN AUC (FPR) " + head, "|---" * (len(models) + 1) + "|"]
        for term in dict.fromkeys(t for row in models for t in by_term(row, category)):
            figures = [by_term(row, category).get(term) for row in models]
            cells = [f"{_cell(f['bpsn_auc'])} ({_cell(f['fpr'])})" if f else "–" for f in figures]
            lines.append(f"| {term} | " + " | ".join(cells) + " |")
    return lines


def markdown(results: dict) -> str:
    models = results["models"]
    names = [row["model"] for row in models]
    head = "| " + " | ".join(names) + " |"
    lines = ["| functionality " + head, "|---" * (len(names) + 1) + "|"]
    functionalities = list(dict.fromkeys(f for row in models for f in row["behaviour"]))
    for functionality in functionalities:
        cells = [_cell(row["behaviour"].get(functionality)) for row in models]
        lines.append(f"| {functionality} | " + " | ".join(cells) + " |")
    lines += ["", "| bias (BPSN AUC) " + head, "|---" * (len(names) + 1) + "|"]
    for category in dict.fromkeys(c for row in models for c in row["bias"]):
        cells = []
        for row in models:
            bias = row["bias"].get(category)
            cells.append(
                f"min {_cell(bias['min_bpsn_auc'])}, {bias['under_0.90']}/{bias['terms']} "
                "under 0.90"
                if bias
                else "–"
            )
        lines.append(f"| {category} | " + " | ".join(cells) + " |")
    lines += per_term_bias(models, head)
    lines += ["", "| Davidson and SMS " + head, "|---" * (len(names) + 1) + "|"]
    for key in (
        "macro_f1_3class",
        "macro_f1_3class_fitted",
        "hate_pr_auc",
        "hate_threshold",
        "hate_precision",
        "hate_recall",
    ):
        cells = [_cell(row["davidson"].get(key)) for row in models]
        lines.append(f"| davidson {key} | " + " | ".join(cells) + " |")
    lines.append(
        "| sms-spam F1 | " + " | ".join(_cell(row["sms_spam_f1"]) for row in models) + " |"
    )
    lines += ["", "| long texts | starter |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in results["long_texts"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    parser.add_argument("--starter-model", help="score this model instead of training one")
    parser.add_argument("--seed-model", help="score this seed-only model instead of training one")
    parser.add_argument(
        "--compare-model", action="append", default=[], help="also score this model (repeatable)"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    config, work, info, card, frame = starter_mixture("quality-benchmark-")
    args.epochs = args.epochs or config.train.epochs
    parts = split_frames(frame)
    print({name: len(part) for name, part in parts.items()}, info["version"], flush=True)
    models, starter = compare_models(config, card, parts, work, args)
    results = {"version": info["version"], "models": models, "long_texts": long_texts(starter)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print(markdown(results))
    print(f"in {time.perf_counter() - started:.0f} s; details in {RESULTS}")


if __name__ == "__main__":
    main()
