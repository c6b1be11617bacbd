"""Package: a BentoML model and a bento around the promoted model, exported to the bento
store and recorded on its registry version, so the champion's bento is always known. When the
gate did not pass, the run records the champion's bento instead: that one stays served."""

import json
from pathlib import Path

import mlflow

from components.config import PipelineConfig
from components.errors import ModpipeError
from components.model.metrics import METRICS_FILE
from components.registry.bentos import export_bento, package_model
from components.registry.models import champion_bento, record_bento

SERVED_TAG = "served.bento"  # on the pipeline's run: the bento that serves after it


def package_stage(
    config: PipelineConfig,
    model_dir: Path,
    model_version: str,
    dataset_version: str,
    parent_run_id: str,
) -> dict[str, str]:
    """Build and export the bento; returns its ``tag`` and the ``uri`` it was exported to."""
    metrics = json.loads((Path(model_dir) / METRICS_FILE).read_text(encoding="utf-8"))
    metadata = {
        "model_name": config.registry.model_name,
        "model_version": model_version,
        "dataset_version": dataset_version,
        "metrics": {k: v for k, v in metrics["macro"].items() if v is not None},
    }
    tag = package_model(Path(model_dir), metadata, config.serving)
    uri = export_bento(tag, config.registry.bento_store)
    record_bento(config.registry.model_name, model_version, tag, uri)
    _tag_runs({"bento": tag, "bento.uri": uri, **_served(tag, uri)}, parent_run_id)
    return {"tag": tag, "uri": uri}


def keep_champion_stage(config: PipelineConfig, parent_run_id: str) -> dict[str, str] | None:
    """The gate did not pass: nothing is packaged, and the run records the champion's bento,
    which stays the one served (None when there is no champion yet)."""
    try:
        tag, uri = champion_bento(config.registry.model_name)
    except ModpipeError as err:
        mlflow.set_tag("served", f"nothing: {err}")
        return None
    _tag_runs(_served(tag, uri), parent_run_id)
    return {"tag": tag, "uri": uri}


def _served(tag: str, uri: str) -> dict[str, str]:
    return {SERVED_TAG: tag, f"{SERVED_TAG}.uri": uri}


def _tag_runs(tags: dict[str, str], parent_run_id: str) -> None:
    """The tags on this stage's run and on the pipeline's."""
    mlflow.set_tags(tags)
    if parent_run_id:
        client = mlflow.MlflowClient()
        for key, value in tags.items():
            client.set_tag(parent_run_id, key, value)
