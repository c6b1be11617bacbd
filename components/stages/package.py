"""Package: a BentoML model and a bento around the promoted model, exported to the bento
store and recorded on its registry version, so the champion's bento is always known. The model
goes in with its ONNX Runtime export, checked against torch on test texts. When the gate did
not pass, the run records the champion's bento instead: that one stays served."""

import json
import shutil
import tempfile
from pathlib import Path

import mlflow

from components.config import PipelineConfig
from components.data.canonical import read_dataset
from components.data.split import split_frames
from components.errors import ModpipeError
from components.model.metrics import METRICS_FILE, label_matrix
from components.model.modeling import ModerationModel
from components.model.onnx_export import check_parity, export_onnx
from components.model.onnx_runtime import ONNX_DIR, PARITY_FILE
from components.registry.bentos import export_bento, package_model
from components.registry.models import champion_bento, record_bento

SERVED_TAG = "served.bento"  # on the pipeline's run: the bento that serves after it


def package_stage(
    config: PipelineConfig,
    model_dir: Path,
    splits_dir: Path,
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
    with tempfile.TemporaryDirectory(prefix="package-") as staging:
        packaged = Path(model_dir)
        if config.onnx.export:
            packaged = with_onnx_export(config, packaged, Path(splits_dir), Path(staging))
        tag = package_model(packaged, metadata, config.serving)
    uri = export_bento(tag, config.registry.bento_store)
    record_bento(config.registry.model_name, model_version, tag, uri)
    _tag_runs({"bento": tag, "bento.uri": uri, **_served(tag, uri)}, parent_run_id)
    return {"tag": tag, "uri": uri}


def with_onnx_export(
    config: PipelineConfig, model_dir: Path, splits_dir: Path, staging: Path
) -> Path:
    """A copy of the model folder in ``staging`` with its ONNX export, checked against torch on
    a sample of the test split (figures to MLflow); the evaluated model's own folder stays as
    evaluate wrote it and the registry holds it."""
    folder = staging / "model"
    shutil.copytree(model_dir, folder)
    model = ModerationModel.load(folder, device="cpu")
    export_onnx(model, folder)
    test = split_frames(read_dataset(splits_dir)[1])["test"]
    sample = test.sample(n=min(len(test), config.onnx.parity_texts), random_state=config.split.seed)
    texts, labels = sample["text"].tolist(), label_matrix(sample, model.categories)
    parity = check_parity(folder, texts, labels, config.evaluate.batch_size)
    mlflow.log_metrics(
        {
            f"onnx.{runtime}.{name}": value
            for runtime, figures in parity.items()
            if isinstance(figures, dict)
            for name, value in figures.items()
            if value is not None
        }
        | {"onnx.parity_texts": parity["texts"]}
    )
    mlflow.log_artifact(str(folder / ONNX_DIR / PARITY_FILE), ONNX_DIR)
    return folder


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
