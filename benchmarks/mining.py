"""Hard-example mining, simulated: how many labels does each way of choosing them need?

Davidson et al. 2017 (../shared/data) stands in for a labelling queue. The pipeline's split
holds out 20% as the test part; the other 80% is the pool, its labels hidden. From a random
seed of labelled items, each round picks a batch, reveals its labels, and retrains a fast head
(one logistic regression per category on FROZEN all-MiniLM-L6-v2 embeddings, cached under
runs/benchmarks/mining-cache/), then scores the test part (macro PR-AUC over hate and
offensive). In the simulation the model's scores are the head's probabilities (threshold 0.5)
and the baseline is EmbeddingBaseline zero-shot on the same encoder.

Compared: random sampling, each strategy alone, and the EXP3 bandit over them. label_errors is
left out: the simulated labels are noise-free, so re-reviewing an item reveals nothing (its
reward is 0 by construction). Reported per method, over seeds: labels needed to reach 95% of
the PR-AUC of a head trained on the whole pool, violations found per 100 picked labels, and
the bandit's final allocation. Curves go to MLflow (runs/benchmarks/mining-mlflow.db), a plot
to runs/benchmarks/mining_curves.png, the results to runs/benchmarks/mining.json.

    nice .venv/bin/python benchmarks/mining.py [--rounds 20] [--batch 100] [--seeds 3]
        [--methods random,bandit] [--results NAME]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import get_args

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from components.data.importers import import_dataset
from components.data.split import split_dataset, split_frames
from components.mining import strategies
from components.mining.bandit import (
    Pick,
    Reward,
    allocate,
    new_state,
    probabilities,
    start_round,
    update,
)
from components.mining.batch import MiningInputs, assemble
from components.mining.rewards import round_rewards
from components.model.baseline import EmbeddingBaseline, SentenceEncoder
from components.model.metrics import label_matrix

DAVIDSON = Path(__file__).resolve().parents[2] / "shared" / "data" / "davidson" / "labeled_data.csv"
OUTPUT = Path("runs") / "benchmarks"
CACHE = OUTPUT / "mining-cache"
TRACKING_URI = f"sqlite:///{OUTPUT / 'mining-mlflow.db'}"
ARMS = ["uncertainty", "disagreement", "diversity", "near_misses"]
THRESHOLD = 0.5  # the head's decision threshold, for "model errors found"
TARGET_SHARE = 0.95  # of the whole-pool head's PR-AUC


class CachedEncoder(SentenceEncoder):
    """The sentence encoder, answering from precomputed vectors where it has them."""

    def __init__(self, texts: list[str], vectors: np.ndarray):
        super().__init__()
        self.known = dict(zip(texts, vectors, strict=True))

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = [text for text in dict.fromkeys(texts) if text not in self.known]
        if missing:
            self.known.update(zip(missing, super().encode(missing), strict=True))
        return np.stack([self.known[text] for text in texts])


def cached_embeddings(texts: list[str], encoder: SentenceEncoder, name: str) -> np.ndarray:
    """Frozen encoder vectors, computed once per set of texts (the cache is keyed by them)."""
    digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:16]
    path = CACHE / f"{name}-{digest}.npy"
    if path.is_file():
        return np.load(path)
    vectors = encoder.encode(texts)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def fit_head(vectors: np.ndarray, labels: np.ndarray):
    """``predict(vectors) -> [n, k]``: a logistic regression per category; a category seen
    with one class only predicts its rate."""
    heads = []
    for column in range(labels.shape[1]):
        truth = labels[:, column].astype(int)
        if len(np.unique(truth)) < 2:
            heads.append(float(truth.mean()))
        else:
            heads.append(LogisticRegression(max_iter=1000).fit(vectors, truth))

    def predict(rows: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [
                np.full(len(rows), h) if isinstance(h, float) else h.predict_proba(rows)[:, 1]
                for h in heads
            ]
        )

    return predict


def pr_auc(truth: np.ndarray, scores: np.ndarray) -> list[float]:
    return [average_precision_score(truth[:, c], scores[:, c]) for c in range(truth.shape[1])]


class Simulation:
    """One labelling run over the pool: ``choose(round_inputs, labelled) -> (rows, strategies)``
    picks each batch."""

    def __init__(self, data: dict, seed: int, seed_size: int):
        self.data = data
        self.rng = np.random.default_rng(seed)
        self.labelled = np.zeros(len(data["pool_labels"]), dtype=bool)
        self.labelled[self.rng.choice(len(self.labelled), seed_size, replace=False)] = True
        self.similarity = self._similarity_to(self.labelled)
        self.curve: list[dict] = []
        self.found = {"picked": 0, "violations": 0, "hate": 0}

    def _similarity_to(self, rows: np.ndarray) -> np.ndarray:
        violating = rows & (self.data["pool_labels"] == 1).any(axis=1)
        return strategies.max_similarity(self.data["pool"], self.data["pool"][violating])

    def evaluate(self) -> np.ndarray:
        """Retrain on the labelled items, record test PR-AUC; the head's pool scores."""
        labels = self.data["pool_labels"][self.labelled]
        predict = fit_head(self.data["pool"][self.labelled], labels)
        per_category = pr_auc(self.data["test_labels"], predict(self.data["test"]))
        point = {"labels": int(self.labelled.sum()), "pr_auc": float(np.mean(per_category))}
        for name, value in zip(self.data["names"], per_category, strict=True):
            point[f"pr_auc_{name}"] = float(value)
        self.curve.append(point)
        return predict(self.data["pool"])

    def inputs(self, scores: np.ndarray) -> MiningInputs:
        labels = np.where(self.labelled[:, None], self.data["pool_labels"], np.nan)
        return MiningInputs(
            scores=scores,
            thresholds=np.full(scores.shape[1], THRESHOLD),
            embeddings=self.data["pool"],
            baseline=self.data["baseline"],
            labels=labels,
            similarity=self.similarity,
        )

    def reveal(self, rows: np.ndarray) -> None:
        truth = self.data["pool_labels"][rows]
        self.labelled[rows] = True
        fresh = np.zeros(len(self.labelled), dtype=bool)
        fresh[rows] = True
        self.similarity = np.maximum(self.similarity, self._similarity_to(fresh))
        self.found["picked"] += len(rows)
        self.found["violations"] += int((truth == 1).any(axis=1).sum())
        self.found["hate"] += int((truth[:, 0] == 1).sum())

    def summary(self) -> dict:
        picked = max(self.found["picked"], 1)
        return {
            "curve": self.curve,
            "violations_per_100": 100 * self.found["violations"] / picked,
            "hate_per_100": 100 * self.found["hate"] / picked,
        }


def run_random(data, seed, args) -> dict:
    simulation = Simulation(data, seed, args.seed_size)
    for _ in range(args.rounds):
        simulation.evaluate()
        unlabelled = np.flatnonzero(~simulation.labelled)
        simulation.reveal(simulation.rng.choice(unlabelled, args.batch, replace=False))
    simulation.evaluate()
    return simulation.summary()


def run_strategy(data, seed, args, name: str) -> dict:
    simulation = Simulation(data, seed, args.seed_size)
    for _ in range(args.rounds):
        batch = assemble(simulation.inputs(simulation.evaluate()), {name: args.batch})
        simulation.reveal(batch.indices)
    simulation.evaluate()
    return simulation.summary()


def run_bandit(data, seed, args) -> dict:
    simulation = Simulation(data, seed, args.seed_size)
    state = new_state(ARMS, data["names"], seed=seed, reward=args.reward)
    for _ in range(args.rounds):
        scores = simulation.evaluate()
        batch = assemble(simulation.inputs(scores), allocate(state, args.batch))
        ids = [str(row) for row in batch.indices]
        flagged = scores[batch.indices] >= THRESHOLD
        names = data["names"]
        picks = [
            Pick(id=item, strategy=name, flagged=[n for n, f in zip(names, hits, strict=True) if f])
            for item, name, hits in zip(ids, batch.strategies, flagged, strict=True)
        ]
        state = start_round(state, picks)
        truth = data["pool_labels"][batch.indices].astype(float)
        revealed = {
            item: dict(zip(names, row, strict=True)) for item, row in zip(ids, truth, strict=True)
        }
        state = update(state, *round_rewards(picks, revealed, state.reward))
        simulation.reveal(batch.indices)
    simulation.evaluate()
    totals = {name: sum(r.allocation[name] for r in state.rounds) for name in ARMS}
    return {
        **simulation.summary(),
        "final_probabilities": probabilities(state),
        "total_allocation": totals,
        "rewards": [r.rewards for r in state.rounds],
    }


def load_data() -> dict:
    """The pool and test parts' cached embeddings and labels, and the zero-shot baseline."""
    card, frame = import_dataset("davidson", DAVIDSON)
    frame = split_dataset(frame, 0.1, 0.2, seed=13)
    pool_frame = frame[frame["split"] != "test"]
    test_frame = split_frames(frame)["test"]
    encoder = SentenceEncoder()
    vectors = cached_embeddings(frame["text"].tolist(), encoder, "davidson-minilm")
    pool = vectors[(frame["split"] != "test").to_numpy()].astype(np.float32)
    texts = pool_frame["text"].tolist()
    baseline = EmbeddingBaseline(card, encoder=CachedEncoder(texts, pool)).fit()
    return {
        "names": card.names,
        "pool": pool,
        "pool_labels": label_matrix(pool_frame, card.names).astype(int),
        "test": vectors[(frame["split"] == "test").to_numpy()].astype(np.float32),
        "test_labels": label_matrix(test_frame, card.names).astype(int),
        "baseline": baseline.predict_scores(texts),
    }


def labels_to_reach(curve: list[dict], target: float) -> int | None:
    return next((point["labels"] for point in curve if point["pr_auc"] >= target), None)


def summarise(runs: list[dict], target: float) -> dict:
    reached = [labels_to_reach(run["curve"], target) for run in runs]
    mean_curve = [
        {"labels": points[0]["labels"], "pr_auc": float(np.mean([p["pr_auc"] for p in points]))}
        for points in zip(*(run["curve"] for run in runs), strict=True)
    ]
    return {
        "labels_to_target": reached,
        "mean_curve_labels_to_target": labels_to_reach(mean_curve, target),
        "mean_labels_to_target": (
            float(np.mean(reached)) if all(r is not None for r in reached) else None
        ),
        "violations_per_100": float(np.mean([run["violations_per_100"] for run in runs])),
        "hate_per_100": float(np.mean([run["hate_per_100"] for run in runs])),
        "final_pr_auc": float(np.mean([run["curve"][-1]["pr_auc"] for run in runs])),
    }


def log_to_mlflow(results: dict) -> None:
    import mlflow

    mlflow.set_tracking_uri(TRACKING_URI)
    mlflow.set_experiment("hard-example-mining")
    with mlflow.start_run(run_name=f"simulated labelling ({results['setup']['methods']})"):
        mlflow.log_params({k: v for k, v in results["setup"].items() if not isinstance(v, list)})
        mlflow.log_metric("target_pr_auc", results["target_pr_auc"])
        for method, runs in results["runs"].items():
            for seed, run in enumerate(runs):
                with mlflow.start_run(run_name=f"{method} seed {seed}", nested=True):
                    mlflow.log_params({"method": method, "seed": seed})
                    for point in run["curve"]:
                        mlflow.log_metric("pr_auc", point["pr_auc"], step=point["labels"])
                        mlflow.log_metric("pr_auc_hate", point["pr_auc_hate"], step=point["labels"])


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for method, runs in results["runs"].items():
        labels = [point["labels"] for point in runs[0]["curve"]]
        for axis, key in zip(axes, ("pr_auc", "pr_auc_hate"), strict=True):
            mean = np.mean([[p[key] for p in run["curve"]] for run in runs], axis=0)
            axis.plot(labels, mean, label=method, linewidth=2.5 if method == "bandit" else 1.2)
    axes[0].axhline(results["target_pr_auc"], color="grey", linestyle="--", label="target")
    for axis, title in zip(axes, ("macro PR-AUC (test)", "hate PR-AUC (test)"), strict=True):
        axis.set(xlabel="labels", title=title)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed-size", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from this one")
    parser.add_argument("--methods", default=",".join(["random", *ARMS, "bandit"]))
    parser.add_argument("--results", default="mining", help="Names the JSON and the plot.")
    parser.add_argument("--reward", default="errors", choices=get_args(Reward))
    args = parser.parse_args()
    if not DAVIDSON.exists():
        raise SystemExit(f"Davidson data not found at {DAVIDSON} (it lives in ../shared/data)")

    started = time.perf_counter()
    data = load_data()
    full = pr_auc(data["test_labels"], fit_head(data["pool"], data["pool_labels"])(data["test"]))
    target = TARGET_SHARE * float(np.mean(full))
    print(f"pool {len(data['pool'])}, test {len(data['test'])}, whole-pool PR-AUC {full}")
    methods = {
        "random": lambda seed: run_random(data, seed, args),
        **{name: lambda seed, name=name: run_strategy(data, seed, args, name) for name in ARMS},
        "bandit": lambda seed: run_bandit(data, seed, args),
    }
    runs = {}
    for method in args.methods.split(","):
        run = methods[method]
        runs[method] = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            begun = time.perf_counter()
            runs[method].append(run(seed))
            print(f"{method} seed {seed}: {time.perf_counter() - begun:.0f} s", flush=True)
    results = {
        "setup": {
            "dataset": "davidson (pipeline split, seed 13): pool = train + validation",
            "pool": len(data["pool"]),
            "test": len(data["test"]),
            "encoder": "all-MiniLM-L6-v2, frozen",
            "head": "logistic regression per category (C=1)",
            "seed_size": args.seed_size,
            "batch": args.batch,
            "rounds": args.rounds,
            "seeds": args.seeds,
            "first_seed": args.first_seed,
            "methods": args.methods,
            "arms": ARMS,
            "reward": args.reward,
        },
        "whole_pool_pr_auc": dict(zip(data["names"], full, strict=True)),
        "target_pr_auc": target,
        "summary": {method: summarise(method_runs, target) for method, method_runs in runs.items()},
        "bandit_final_probabilities": [r["final_probabilities"] for r in runs.get("bandit", [])],
        "bandit_total_allocation": [r["total_allocation"] for r in runs.get("bandit", [])],
        "runs": runs,
        "seconds": time.perf_counter() - started,
    }
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / f"{args.results}.json").write_text(json.dumps(results, indent=2))
    plot(results, OUTPUT / f"{args.results}_curves.png")
    log_to_mlflow(results)
    print(f"target macro PR-AUC {target:.3f}")
    headings = ("labels to target, per seed", "mean curve", "violations/100", "hate/100", "final")
    print(f"{'method':14} {headings[0]:>26} {headings[1]:>10} " + " ".join(headings[2:]))
    for method, row in results["summary"].items():
        reached = ", ".join("-" if r is None else str(r) for r in row["labels_to_target"])
        print(
            f"{method:14} {reached:>26} {row['mean_curve_labels_to_target'] or '-':>10} "
            f"{row['violations_per_100']:14.1f} {row['hate_per_100']:8.1f} "
            f"{row['final_pr_auc']:5.3f}"
        )
    print(f"bandit final probabilities: {results['bandit_final_probabilities']}")
    print(f"written to {OUTPUT / args.results}.json")


if __name__ == "__main__":
    main()
