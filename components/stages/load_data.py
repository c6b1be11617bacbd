"""Load: the run's dataset version, fetched from DVC (see :mod:`components.data.source`)."""

from pathlib import Path

import mlflow

from components.config import PipelineConfig
from components.data.source import fetch_dataset


def load_data_stage(config: PipelineConfig, output_dir: Path, parent_run_id: str) -> dict:
    """Fetch the dataset into ``output_dir``; its name, md5, rows and whether it is synthetic."""
    info = fetch_dataset(config.data, output_dir)
    mlflow.log_params({f"dataset.{key}": value for key, value in info.items()})
    if parent_run_id:
        mlflow.MlflowClient().log_param(parent_run_id, "dataset.md5", info["md5"])
    return info
