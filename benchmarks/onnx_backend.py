"""ONNX Runtime against torch for the text model, in one process, on the same real texts.

Four backends of one MiniLM model: torch fp32, torch int8 (``quantize_int8``), ORT fp32 and
ORT int8 (the package step's export, components.model.onnx_export), each with ``--threads``
intra-op threads, on the windows of ``--texts`` Jigsaw comments (../shared/data): sorted by
length into batches of 64 windows as the model batches them, and one window at a time (each
text's windows in turn). The backends take turns batch by batch over ``--rounds`` rounds and
each batch keeps its fastest time, so that other work on a shared machine slows every backend
alike and barely counts. Throughput is texts per second.

Quality: the package step's parity check (components.model.onnx_export.check_parity) on up to
``--parity-texts`` texts of ``--splits``' test split, with torch int8 scored the same way.

The model: ``--model`` (a trained model folder; default: the quality benchmark's newest starter
model, /tmp/quality-benchmark-*/starter/model, and its split, when there is one); without one, an
untrained all-MiniLM-L6-v2 classifier (speed does not depend on training; no PR-AUC then).

    nice .venv/bin/python benchmarks/onnx_backend.py [--model DIR --splits DIR] [--rounds 5]

Prints a markdown table; writes runs/benchmarks/onnx_backend.json.
"""

import argparse
import json
import os
import shutil
import tempfile
import time
from glob import glob
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from components.config import DEFAULT_BASE_MODEL
from components.data.canonical import load_taxonomy, read_dataset
from components.data.split import split_frames
from components.model.metrics import compute_metrics, label_matrix
from components.model.modeling import ModerationModel, build_classifier
from components.model.onnx_export import check_parity, export_onnx
from components.model.onnx_runtime import read_onnx_manifest

ROOT = Path(__file__).resolve().parents[1]
JIGSAW = ROOT.parent / "shared" / "data" / "jigsaw-sample" / "train.csv"
RESULTS = ROOT / "runs" / "benchmarks" / "onnx_backend.json"
STARTER = "/tmp/quality-benchmark-*/starter/model"
BATCH = 64
BACKENDS = {  # name: ModerationModel.load's arguments
    "torch fp32": {"backend": "torch"},
    "torch int8": {"backend": "torch", "int8": True},
    "ORT fp32": {"backend": "onnx"},
    "ORT int8": {"backend": "onnx", "int8": True},
}


def parse_args() -> argparse.Namespace:
    starters = sorted(glob(STARTER), key=os.path.getmtime)  # the newest last
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path(starters[-1]) if starters else None)
    parser.add_argument("--splits", type=Path, help="default: the starter model's split")
    parser.add_argument("--texts", type=int, default=282, help="Jigsaw comments (282 in all)")
    parser.add_argument("--single-texts", type=int, default=48, help="texts one window at a time")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parity-texts", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.model and not args.splits and (args.model.parent.parent / "data").is_dir():
        args.splits = args.model.parent.parent / "data"
    return args


def model_folder(args: argparse.Namespace, work: Path) -> Path:
    """A copy of the model (or an untrained MiniLM classifier) in ``work``, with no export."""
    folder = work / "model"
    if args.model:
        shutil.copytree(args.model, folder, ignore=shutil.ignore_patterns("onnx"))
        return folder
    taxonomy = load_taxonomy()
    classifier, tokenizer = build_classifier(DEFAULT_BASE_MODEL, taxonomy, seed=13)
    return ModerationModel(classifier, tokenizer, taxonomy, DEFAULT_BASE_MODEL, 128).save(folder)


def batches_of(model: ModerationModel, texts: list[str], single_texts: int) -> dict:
    """The windows of ``texts`` in batches of 64 by length, and of the first texts one by one."""
    windows = model.windows(texts).input_ids
    order = np.argsort([len(ids) for ids in windows], kind="stable")
    batched = [[windows[i] for i in order[s : s + BATCH]] for s in range(0, len(order), BATCH)]
    singles = [[ids] for ids in model.windows(texts[:single_texts]).input_ids]
    return {"batch 64": (batched, len(texts)), "batch 1": (singles, single_texts)}


def fastest_times(models: dict, batches: list, rounds: int) -> dict[str, float]:
    """Per backend, the sum over batches of each batch's fastest time in ``rounds`` turns."""
    best = {name: np.full(len(batches), np.inf) for name in models}
    for model in models.values():
        model.forward_windows(batches[0], embed=False)  # warm up: allocations, ORT's plans
    for _ in range(rounds):
        for index, batch in enumerate(batches):
            for name, model in models.items():
                started = time.perf_counter()
                model.forward_windows(batch, embed=False)
                best[name][index] = min(best[name][index], time.perf_counter() - started)
    return {name: float(times.sum()) for name, times in best.items()}


def throughput(models: dict, sets: dict, rounds: int) -> dict:
    rows = {}
    for label, (batches, texts) in sets.items():
        seconds = fastest_times(models, batches, rounds)
        per_second = {name: texts / s for name, s in seconds.items()}
        rows[label] = {
            name: {"texts_per_s": rate, "vs_torch_fp32": rate / per_second["torch fp32"]}
            for name, rate in per_second.items()
        }
    return rows


def quality(folder: Path, splits: Path | None, limit: int) -> dict:
    """The package step's parity check, and torch int8's figures on the same texts."""
    if splits is None:
        return {}
    test = split_frames(read_dataset(splits)[1])["test"]
    sample = test.sample(n=min(limit, len(test)), random_state=13)
    texts = sample["text"].tolist()
    model = ModerationModel.load(folder, device="cpu")
    labels = label_matrix(sample, model.categories)
    parity = check_parity(folder, texts, labels)
    scores = model.predict_scores(texts)
    model.quantize_int8()
    int8_scores = model.predict_scores(texts)
    macro = compute_metrics(labels, int8_scores, model.categories, model.thresholds)["macro"]
    parity["torch int8"] = {
        "max_score_diff": float(np.abs(int8_scores - scores).max()),
        "macro_pr_auc": macro["pr_auc"],
        "macro_pr_auc_change": macro["pr_auc"] - parity["torch"]["macro_pr_auc"],
    }
    return parity


def markdown(rows: dict, parity: dict) -> str:
    names = list(BACKENDS)
    lines = [
        "| texts/s (x torch fp32) | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for label, figures in rows.items():
        cells = [
            f"{figures[n]['texts_per_s']:.1f} ({figures[n]['vs_torch_fp32']:.2f}x)" for n in names
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if parity:
        keys = ("torch int8", "fp32", "int8")  # parity's names for the columns after torch fp32
        lines.append(
            f"| macro PR-AUC ({parity['texts']} test texts) | "
            f"{parity['torch']['macro_pr_auc']:.4f} | "
            + " | ".join(f"{parity[key]['macro_pr_auc']:.4f}" for key in keys)
            + " |"
        )
        lines.append(
            "| max score difference from torch fp32 | - | "
            + " | ".join(f"{parity[key]['max_score_diff']:.1e}" for key in keys)
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    if not JIGSAW.is_file():
        raise SystemExit(f"Jigsaw sample not found at {JIGSAW} (it lives in ../shared/data)")
    torch.set_num_threads(args.threads)
    texts = pd.read_csv(JIGSAW)["comment_text"].head(args.texts).tolist()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="onnx-backend-") as work:
        folder = model_folder(args, Path(work))
        started = time.perf_counter()
        export_onnx(ModerationModel.load(folder, device="cpu"), folder)
        export_s = time.perf_counter() - started
        models = {
            name: ModerationModel.load(folder, device="cpu", threads=args.threads, **options)
            for name, options in BACKENDS.items()
        }
        sets = batches_of(models["torch fp32"], texts, args.single_texts)
        rows = throughput(models, sets, args.rounds)
        parity = quality(folder, args.splits, args.parity_texts)
        manifest = read_onnx_manifest(folder)
        sizes = {p.name: p.stat().st_size for p in (folder / "onnx").glob("*.onnx")}
    results = {
        "args": vars(args),
        "model": str(args.model or f"untrained {DEFAULT_BASE_MODEL}"),
        "windows": {label: sum(map(len, batches)) for label, (batches, _) in sets.items()},
        "export_s": export_s,
        "fused_operators": manifest.fused_operators,
        "file_bytes": sizes,
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "throughput": rows,
        "parity": parity,
    }
    print(markdown(rows, parity))
    print(
        f"export {export_s:.1f} s; fused {manifest.fused_operators}; load {results['load_average']}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
