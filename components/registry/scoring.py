"""Score any canonical dataset with any packaged or registered model (``modpipe evaluate``)."""

from pathlib import Path

from components.data.canonical import read_dataset
from components.errors import ModpipeError
from components.model.metrics import compute_metrics, label_matrix
from components.model.modeling import ModerationModel
from components.registry.bentos import load_packaged_model
from components.registry.models import load_model


def load_any_model(reference: str) -> ModerationModel:
    """A ModerationModel from an MLflow URI, a local folder, or a bento / BentoML model tag."""
    if reference.startswith(("models:/", "runs:/")) or Path(reference).is_dir():
        return load_model(reference)
    if ":" in reference or "/" not in reference:
        return load_packaged_model(reference)
    raise ModpipeError(f"{reference}: not a model URI, a model folder or a bento tag")


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
