"""Score any canonical dataset with any packaged or registered model (``modpipe evaluate``)."""

import tempfile
from pathlib import Path

from components.data.canonical import read_dataset
from components.errors import ModpipeError
from components.model.metrics import compute_metrics, label_matrix
from components.model.modeling import ModerationModel
from components.registry.bentos import packaged_model_dir
from components.registry.models import fetch_model_folder


def model_folder(reference: str, destination: Path) -> Path:
    """The saved model folder behind any reference (an MLflow URI is downloaded into
    ``destination``; a folder and a bento's model are used where they are)."""
    if reference.startswith(("models:/", "runs:/")) or Path(reference).is_dir():
        return fetch_model_folder(reference, destination)
    if ":" in reference or "/" not in reference:
        return packaged_model_dir(reference)
    raise ModpipeError(f"{reference}: not a model URI, a model folder or a bento tag")


def load_any_model(reference: str) -> ModerationModel:
    """A ModerationModel from an MLflow URI, a local folder, or a bento / BentoML model tag."""
    with tempfile.TemporaryDirectory(prefix="modpipe-model-") as download:
        return ModerationModel.load(model_folder(reference, Path(download)))


def score_dataset(reference: str, data_dir: Path, batch_size: int = 64) -> dict:
    """Metrics of a model on any canonical dataset, over the categories both share."""
    model = load_any_model(reference)
    card, frame = read_dataset(data_dir)
    shared = [name for name in model.categories if name in card.names]
    if not shared:
        raise ModpipeError(
            f"the model's categories ({', '.join(model.categories)}) and the dataset's "
            f"({', '.join(card.names)}) have none in common"
        )
    columns = [model.categories.index(name) for name in shared]
    scores = model.predict_scores(frame["text"].astype(str).tolist(), batch_size)[:, columns]
    thresholds = {name: model.thresholds[name] for name in shared}
    metrics = compute_metrics(label_matrix(frame, shared), scores, shared, thresholds)
    return {"model": reference, "dataset": card.name, "rows": len(frame), **metrics}
