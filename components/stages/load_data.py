"""Load: the run's dataset version (or mixture), fetched from DVC (see
:mod:`components.data.source`)."""

from pathlib import Path

import mlflow

from components.config import PipelineConfig
from components.data.source import fetch_dataset


def load_data_stage(config: PipelineConfig, output_dir: Path, parent_run_id: str) -> dict:
    """Fetch the dataset into ``output_dir``; its name, md5, version, rows and, for a mixture,
    its sources (each one's md5, rev, rows kept and cross-source duplicates removed)."""
    info = fetch_dataset(config.data, output_dir)
    sources = info.get("sources", [])
    plain = {key: value for key, value in info.items() if key not in ("sources", "categories")}
    mlflow.log_params({f"dataset.{key}": value for key, value in plain.items()})
    if sources:
        mlflow.log_dict({"version": info["version"], "sources": sources}, "dataset_sources.json")
        mlflow.log_metrics(
            {
                f"dataset.{s['name']}.{key}": s[key]
                for s in sources
                for key in ("rows", "repeats_removed", "duplicates_removed")
            }
        )
    if parent_run_id:
        client = mlflow.MlflowClient()
        client.log_param(parent_run_id, "dataset.md5", info["md5"])
        client.log_param(parent_run_id, "dataset.version", info["version"])
    return info
