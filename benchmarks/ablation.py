"""What soft labels, augmentation and pooling change, one at a time, on a smaller starter mixture.

The seed corpus and the three datasets that carry annotator shares (Davidson, Toxic Spans,
ConvAbuse), each capped, plus bias-madlibs for evaluation; one split, one epoch per model, every
model scored by the pipeline's evaluation (thresholds on validation, the behavioural suite and
identity-term bias at them):
- hard labels, no augmentation (the reference);
- ``train.soft_labels: soft`` (annotators' shares as targets);
- ``train.soft_labels: agreement`` (rows weighted by their agreement);
- hard labels with the starter preset's augmentation;
- the preset's own training settings with the category head reading the encoder's first token,
  and with it reading the mean of the token vectors (``train.pooling``);
- the preset's own settings with positives not up-weighted (``train.class_weighting: none``),
  and with their weight capped at 3 instead of 20 (``train.max_pos_weight``);
- the preset's own settings with counterfactual logit pairing at three weights
  (``train.counterfactual_pairing``), and with masked-token copies at two
  (``train.pairing_copies: masked_token``);
- the preset's own settings with batches grouped by length (``train.group_by_length``).

    MODPIPE_DATA_MIRROR=../shared/data .venv/bin/python benchmarks/ablation.py [--rows 2000] \\
        [--variant NAME ...] [--seed 13]
"""

import argparse
import json
from pathlib import Path

import numpy as np
from mixture import encoder_scorer, starter_mixture

from components.config import AugmentConfig
from components.data.split import split_frames
from components.model.metrics import evaluate_scorer

RESULTS = Path("runs") / "benchmarks" / "ablation.json"
ANNOTATED = ("davidson", "toxic-spans", "convabuse")


def variants(config) -> dict[str, dict]:
    """Train-config changes by name."""
    return {
        "hard labels": {"soft_labels": "off", "augment": AugmentConfig()},
        "soft labels": {"soft_labels": "soft", "augment": AugmentConfig()},
        "agreement weights": {"soft_labels": "agreement", "augment": AugmentConfig()},
        "augmentation": {"soft_labels": "off", "augment": config.train.augment},
        "first-token pooling": {"pooling": "first_token"},
        "mean pooling": {"pooling": "mean"},
        "no class weighting": {"class_weighting": "none"},
        "positive weight at most 3": {"max_pos_weight": 3.0},
        "counterfactual pairing 1": {"counterfactual_pairing": 1.0},
        "counterfactual pairing 0.3": {"counterfactual_pairing": 0.3},
        "counterfactual pairing 3": {"counterfactual_pairing": 3.0},
        "masked-token pairing 1": {"counterfactual_pairing": 1.0, "pairing_copies": "masked_token"},
        "masked-token pairing 0.3": {
            "counterfactual_pairing": 0.3,
            "pairing_copies": "masked_token",
        },
        "length grouping": {"group_by_length": True},
    }


def summary(result: dict) -> dict:
    metrics, quality = result["metrics"], result["metrics"]["quality"]
    functionalities = quality["behaviour"]["functionalities"].values()

    def mean_of(group: str) -> float:
        return float(np.mean([f["accuracy"] for f in functionalities if f["group"] == group]))

    return {
        "macro_pr_auc": metrics["macro"]["pr_auc"],
        "macro_ece": metrics["macro"]["ece"],
        **{f"{s} PR-AUC": metrics["by_source"][s]["macro"]["pr_auc"] for s in ANNOTATED},
        **{f"{s} ECE": metrics["by_source"][s]["macro"]["ece"] for s in ANNOTATED},
        "behaviour overall": quality["behaviour"]["overall"]["accuracy"],
        "hard negatives": mean_of("hard negative"),
        "obfuscation": mean_of("obfuscation"),
        **{
            f"min BPSN AUC ({category})": bias["summary"]["min_bpsn_auc"]
            for category, bias in quality["bias"].items()
        },
    }


def markdown(results: dict) -> str:
    names = list(results)
    rows = list(next(iter(results.values())))
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for row in rows:
        cells = [results[name][row] for name in names]
        lines.append(f"| {row} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="per source")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--variant", action="append", help="only these (repeatable)")
    parser.add_argument("--seed", type=int, help="train.seed (default: the preset's)")
    args = parser.parse_args()
    sources = {name: args.rows for name in ("seed", *ANNOTATED, "bias-madlibs")}
    config, work, _, card, frame = starter_mixture("ablation-benchmark-", sources)
    parts = split_frames(frame)
    print({name: len(part) for name, part in parts.items()}, flush=True)
    results = {}
    chosen = {n: c for n, c in variants(config).items() if not args.variant or n in args.variant}
    seed = {"seed": args.seed} if args.seed is not None else {}
    for name, changes in chosen.items():
        changes = {**changes, **seed}
        varied = config.model_copy(update={"train": config.train.model_copy(update=changes)})
        folder = work / name.replace(" ", "-")
        predict, seconds = encoder_scorer(varied, parts, card, folder, args.epochs)
        results[name] = {
            **summary(evaluate_scorer(predict, parts, card, config.evaluate)),
            "train seconds": seconds,
        }
        print(name, json.dumps(results[name]), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
