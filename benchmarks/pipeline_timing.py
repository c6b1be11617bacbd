"""Pipeline wall time against the sum of its steps' own work, for a preset.

Runs `modpipe run` with throwaway MLflow and BentoML stores, then reads each step's MLflow run
(its start and end: the step's work) and the pipeline's wall time. The difference is what the
local runner costs: one Python process per step, each importing torch, MLflow and friends.

    .venv/bin/python benchmarks/pipeline_timing.py [--config configs/tiny.yaml]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from mlflow import MlflowClient

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "tiny.yaml")
    args = parser.parse_args()
    stores = Path(tempfile.mkdtemp(prefix="modpipe-timing-"))
    config = yaml.safe_load(args.config.read_text())
    config["checkpoints"] = str(stores / "checkpoints")  # train from scratch, not a finished run
    config.setdefault("registry", {})["bento_store"] = str(stores / "bentos")
    config_path = stores / args.config.name
    config_path.write_text(yaml.safe_dump(config))
    uri = f"sqlite:///{stores / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "BENTOML_HOME": str(stores / "bentoml")}
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "workflows.cli", "run", "-c", str(config_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    command_seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(run.stderr[-2000:])

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("moderation-pipeline")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    stages = sorted(
        (r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id),
        key=lambda r: r.info.start_time,
    )
    print(f"{'step':12} {'work s':>8}")
    for stage in stages:
        seconds = (stage.info.end_time - stage.info.start_time) / 1000
        print(f"{stage.data.tags['stage']:12} {seconds:8.1f}")
    work = sum(r.info.end_time - r.info.start_time for r in stages) / 1000
    wall = parent.data.metrics["pipeline.wall_seconds"]
    print(f"{'sum of steps':12} {work:8.1f}")
    print(f"{'pipeline':12} {wall:8.1f}  (wall; {wall / work:.2f}x the steps' work)")
    print(f"{'modpipe run':12} {command_seconds:8.1f}  (the whole command, start-up included)")


if __name__ == "__main__":
    main()
