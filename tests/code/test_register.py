"""MLflow tracking and the register-and-gate stage, against a real MLflow on a sqlite store.

The registry tests use tiny random BERTs. The test labels are read off the first model's
own scores (above its median score = positive), so that model ranks the test set
perfectly and any other random model is clearly worse, with no training.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from components.data.canonical import Category, Taxonomy, label_column
from components.errors import ModpipeError
from components.model.metrics import compute_metrics, label_matrix
from components.model.modeling import TINY_BASE_MODEL, ModerationModel, build_classifier
from components.registry.models import (
    CHALLENGER,
    CHAMPION,
    GateConfig,
    gate,
    load_model,
    log_and_register,
    register_and_gate,
)
from components.registry.tracking import (
    STAGE_TAG,
    create_parent_run,
    end_parent_run,
    flatten,
    git_commit,
    setup_tracking,
    stage_run,
)

MODEL = "test-moderation"


@pytest.fixture
def isolated_mlflow(monkeypatch):
    """No tracking URI from the environment, and none left behind for other tests (MLflow's
    set_tracking_uri exports one; monkeypatch restores the variable as it found it)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    yield
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Path:
    """A migrated MLflow database to copy: creating its tables takes ~10 s, a copy ~0.05 s."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


def new_store(empty_store: Path, path: Path) -> str:
    shutil.copy(empty_store, path)
    return f"sqlite:///{path}"


@pytest.fixture
def store(tmp_path, empty_store, isolated_mlflow) -> str:
    return new_store(empty_store, tmp_path / "mlflow.db")


# --- the gate ----------------------------------------------------------------------------------


def metrics(pr_auc: dict[str, float], recall: dict[str, float], f1: float = 0.5) -> dict:
    per_category = {
        name: {"pr_auc": pr_auc[name], "recall": recall[name], "f1": f1} for name in pr_auc
    }
    return {
        "per_category": per_category,
        "macro": {"pr_auc": float(np.mean(list(pr_auc.values()))), "f1": f1},
    }


CHAMPION_METRICS = metrics({"hate": 0.80, "spam": 0.90}, {"hate": 0.70, "spam": 0.60})


def test_gate_passes_a_candidate_within_the_allowed_drops():
    candidate = metrics({"hate": 0.797, "spam": 0.895}, {"hate": 0.69, "spam": 0.58})
    decision = gate(candidate, CHAMPION_METRICS, GateConfig())
    assert decision.passed, decision.reasons
    assert all(reason.startswith("PASS") for reason in decision.reasons)
    assert any("0.8460 vs champion 0.8500" in reason for reason in decision.reasons)


def test_gate_fails_on_a_macro_pr_auc_drop():
    candidate = metrics({"hate": 0.79, "spam": 0.90}, {"hate": 0.70, "spam": 0.60})
    decision = gate(candidate, CHAMPION_METRICS, GateConfig(max_pr_auc_drop=0.004))
    assert not decision.passed
    [failure] = [r for r in decision.reasons if r.startswith("FAIL")]
    assert "macro PR-AUC" in failure and "drop 0.0050 > allowed 0.0040" in failure


def test_gate_fails_when_one_category_loses_recall():
    candidate = metrics({"hate": 0.85, "spam": 0.95}, {"hate": 0.75, "spam": 0.55})
    decision = gate(candidate, CHAMPION_METRICS, GateConfig())
    assert not decision.passed
    [failure] = [r for r in decision.reasons if r.startswith("FAIL")]
    assert "recall of spam 0.5500 vs champion 0.6000" in failure


def test_gate_compares_only_shared_categories():
    candidate = metrics({"hate": 0.80, "new": 0.1}, {"hate": 0.70, "new": 0.0})
    decision = gate(candidate, CHAMPION_METRICS, GateConfig())
    assert decision.passed, decision.reasons
    assert any("candidate only: ['new']" in reason for reason in decision.reasons)
    unrelated = metrics({"new": 0.9}, {"new": 0.9})
    assert not gate(unrelated, CHAMPION_METRICS, GateConfig()).passed


def test_gate_holds_the_first_model_to_the_floors():
    candidate = metrics({"hate": 0.6, "spam": 0.7}, {"hate": 0.5, "spam": 0.5}, f1=0.4)
    assert gate(candidate, None, GateConfig(min_macro_pr_auc=0.6, min_macro_f1=0.4)).passed
    decision = gate(candidate, None, GateConfig(min_macro_pr_auc=0.7))
    assert not decision.passed
    assert "FAIL: macro PR-AUC 0.6500 < floor 0.7000" in decision.reasons


def test_gate_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match="max_pr_auc_dorp"):
        GateConfig.model_validate({"max_pr_auc_dorp": 0.01})


# --- tracking ----------------------------------------------------------------------------------


def test_setup_tracking_keeps_artifacts_beside_the_store(store, tmp_path):
    uri = setup_tracking(store, experiment="exp")
    experiment = mlflow.get_experiment_by_name("exp")
    assert experiment.artifact_location == (tmp_path / "mlartifacts").as_uri()
    with mlflow.start_run() as run:
        mlflow.log_dict({"a": 1}, "a.json")
    assert (tmp_path / "mlartifacts" / run.info.run_id / "artifacts" / "a.json").is_file()
    assert uri == store and setup_tracking(store, experiment="exp") == uri  # reuses it


def test_default_store_is_an_absolute_mlflow_db_in_the_cwd_unless_the_env_says(
    tmp_path, empty_store, isolated_mlflow, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert setup_tracking() == new_store(empty_store, tmp_path / "mlflow.db")
    other = tmp_path / "other"
    other.mkdir()
    new_store(empty_store, other / "runs.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///other/runs.db")
    assert setup_tracking() == f"sqlite:///{other}/runs.db"


@pytest.mark.parametrize(
    "uri, message",
    [
        ("sqlite:////no/such/folder/mlflow.db", "/no/such/folder does not exist"),
        ("nosuchscheme://host/path", "nosuchscheme"),
    ],
)
def test_a_bad_tracking_uri_is_a_modpipe_error(uri, message, isolated_mlflow):
    with pytest.raises(ModpipeError, match=message):
        setup_tracking(uri)


def test_a_file_that_is_not_a_database_is_a_modpipe_error(tmp_path, isolated_mlflow):
    (tmp_path / "notes.db").write_text("not a database")
    with pytest.raises(ModpipeError, match="not a database"):
        setup_tracking(f"sqlite:///{tmp_path}/notes.db")


def test_stage_runs_nest_under_the_parent_run(store):
    setup_tracking(store, experiment="pipeline")
    config = {"train": {"epochs": 2, "lr": 0.001}, "name": "demo"}
    parent_id = create_parent_run("pipeline", config, {"data.md5": "abc"}, run_name="demo")
    mlflow.set_tracking_uri(None)
    with stage_run("train", parent_id, store) as run:
        mlflow.log_metric("loss", 0.5)
    client = MlflowClient(store)
    parent, child = client.get_run(parent_id), client.get_run(run.info.run_id)
    assert child.data.tags["mlflow.parentRunId"] == parent_id
    assert child.data.tags[STAGE_TAG] == "train"
    assert child.info.experiment_id == parent.info.experiment_id
    assert child.info.status == "FINISHED"
    assert parent.data.params == {
        "train.epochs": "2",
        "train.lr": "0.001",
        "name": "demo",
        "data.md5": "abc",
    }
    assert parent.data.tags.get("mlflow.source.git.commit") == git_commit()


def test_a_failing_stage_marks_its_run_failed(store):
    with pytest.raises(RuntimeError):
        with stage_run("evaluate", None, store) as run:
            raise RuntimeError("boom")
    assert MlflowClient(store).get_run(run.info.run_id).info.status == "FAILED"


def test_a_missing_parent_run_is_a_modpipe_error(store):
    with pytest.raises(ModpipeError, match="parent run 0123456789abcdef0123456789abcdef"):
        with stage_run("train", "0123456789abcdef0123456789abcdef", store):
            pass


def test_flatten_nested_config():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {
        "a.b": 1,
        "a.c.d": [1, 2],
        "e": None,
    }


# --- registry ----------------------------------------------------------------------------------

TAXONOMY = Taxonomy(
    categories=[
        Category(name="hate", description="hateful content"),
        Category(name="spam", description="unsolicited promotion"),
    ]
)
TEXTS = [f"message {i} about {topic}" for i in range(30) for topic in ("cats", "deals")]


def tiny_model(seed: int) -> ModerationModel:
    model, tokenizer = build_classifier(TINY_BASE_MODEL, TAXONOMY, seed=seed)
    return ModerationModel(model, tokenizer, TAXONOMY, TINY_BASE_MODEL, max_length=16)


def frame_labelled_by(scores: np.ndarray) -> pd.DataFrame:
    """Labels = above the median score, so the model that made ``scores`` ranks perfectly."""
    frame = pd.DataFrame({"id": range(len(TEXTS)), "text": TEXTS})
    for column, name in enumerate(TAXONOMY.names):
        above = scores[:, column] > np.median(scores[:, column])
        frame[label_column(name)] = pd.array(above.astype(int), dtype="Int8")
    return frame


def evaluate(model: ModerationModel, test: pd.DataFrame) -> dict:
    scores = model.predict_scores(test["text"].tolist())
    return compute_metrics(
        label_matrix(test, model.categories), scores, model.categories, model.thresholds
    )


@pytest.fixture(scope="module")
def registry(tmp_path_factory, empty_store):
    """Three registrations in nested stage runs: good (first), worse, as good as the first."""
    root = tmp_path_factory.mktemp("registry")
    store = new_store(empty_store, root / "mlflow.db")
    good, worse = tiny_model(seed=1), tiny_model(seed=2)
    folders = {
        name: model.save(root / name)
        for name, model in (("good", good), ("worse", worse), ("good-again", good))
    }
    test = frame_labelled_by(good.predict_scores(TEXTS))
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        setup_tracking(store)
        parent_id = create_parent_run(
            "moderation-pipeline", {"gate": GateConfig().model_dump()}, {}, "registry-test"
        )
        steps = []
        for name, model in (("good", good), ("worse", worse), ("good-again", good)):
            with stage_run("register", parent_id, store) as run:
                decision = register_and_gate(
                    folders[name],
                    test,
                    evaluate(model, test),
                    GateConfig(min_macro_pr_auc=0.9),
                    MODEL,
                )
            aliases = MlflowClient().get_registered_model(MODEL).aliases
            steps.append(
                SimpleNamespace(
                    decision=decision,
                    run_id=run.info.run_id,
                    aliases={k: str(v) for k, v in aliases.items()},
                )
            )
        end_parent_run(parent_id, succeeded=True)
        mlflow.set_tracking_uri(None)
    return SimpleNamespace(
        steps=steps,
        store=store,
        folders=folders,
        good=good,
        worse=worse,
        client=MlflowClient(store),
    )


@pytest.fixture
def registered(registry, isolated_mlflow):
    """The registry fixture's store as the current tracking URI."""
    mlflow.set_tracking_uri(registry.store)
    return registry


def test_the_first_model_passing_the_floors_becomes_champion(registry):
    first = registry.steps[0]
    assert first.decision.passed and first.decision.champion_version is None
    assert first.decision.candidate_version == "1"
    assert first.aliases == {CHALLENGER: "1", CHAMPION: "1"}
    assert any("floor 0.9000" in reason for reason in first.decision.reasons)


def test_a_worse_model_stays_challenger_and_mlflow_records_why(registry):
    second = registry.steps[1]
    assert not second.decision.passed
    assert second.aliases == {CHALLENGER: "2", CHAMPION: "1"}
    assert second.decision.champion_version == "1"
    assert second.decision.champion["macro"]["pr_auc"] == pytest.approx(1.0)
    [failure, *_] = [r for r in second.decision.reasons if r.startswith("FAIL")]
    assert "macro PR-AUC" in failure and "vs champion 1.0000" in failure
    run = registry.client.get_run(second.run_id)
    assert run.data.tags["gate.passed"] == "false"
    assert failure in run.data.tags["gate.reasons"]
    logged = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/decision.json")
    assert logged["passed"] is False and failure in logged["reasons"]
    version = registry.client.get_model_version(MODEL, "2")
    assert version.tags["gate.passed"] == "false" and failure in version.tags["gate.reasons"]


def test_an_as_good_model_takes_over_and_old_versions_stay(registry):
    third = registry.steps[2]
    assert third.decision.passed, third.decision.reasons
    assert third.aliases == {CHALLENGER: "3", CHAMPION: "3"}
    versions = registry.client.search_model_versions(f"name='{MODEL}'")
    assert sorted(str(v.version) for v in versions) == ["1", "2", "3"]  # ints in MLflow 3


def test_load_model_from_alias_version_run_and_folder(registered):
    run_id = registered.client.get_model_version(MODEL, "2").run_id
    expected = {
        f"models:/{MODEL}@{CHAMPION}": registered.good,
        f"models:/{MODEL}/2": registered.worse,
        f"runs:/{run_id}/model": registered.worse,
        str(registered.folders["good"]): registered.good,
    }
    for uri, original in expected.items():
        loaded = load_model(uri)
        assert loaded.categories == TAXONOMY.names
        np.testing.assert_allclose(
            loaded.predict_scores(TEXTS[:4]),
            original.predict_scores(TEXTS[:4]),
            atol=1e-6,
            err_msg=uri,
        )


@pytest.mark.parametrize(
    "uri", [f"models:/{MODEL}@nobody", f"models:/{MODEL}/99", "/no/such/model", "s3x://bucket/m"]
)
def test_load_model_rejects_unknown_models(registered, uri):
    with pytest.raises(ModpipeError):
        load_model(uri)


def test_the_registered_pyfunc_scores_a_text_column(registered):
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL}@{CHAMPION}")
    scores = pyfunc.predict(pd.DataFrame({"text": TEXTS[:3]}))
    assert list(scores.columns) == TAXONOMY.names
    np.testing.assert_allclose(
        scores.to_numpy(), registered.good.predict_scores(TEXTS[:3]), atol=1e-6
    )


# Loads the registered model with what its requirements lack made unimportable.
LOAD_BLOCKED = """
import importlib.abc, sys
BLOCKED = {"kfp", "dvc", "great_expectations", "bentoml"}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not in the model's requirements")
sys.meta_path.insert(0, Blocker())
import mlflow.pyfunc, pandas
model = mlflow.pyfunc.load_model(sys.argv[1])
print(model.predict(pandas.DataFrame({"text": ["hello", "buy now"]})).shape)
print(sorted(name for name in BLOCKED if name in sys.modules))
"""


def test_the_registered_model_loads_without_kfp_dvc_gx_or_bentoml(registered):
    env = {**os.environ, "MLFLOW_TRACKING_URI": registered.store}
    result = subprocess.run(
        [sys.executable, "-c", LOAD_BLOCKED, f"models:/{MODEL}@{CHAMPION}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == [f"(2, {len(TAXONOMY.names)})", "[]"]


def test_registering_needs_an_active_run(registered):
    with pytest.raises(ModpipeError, match="active MLflow run"):
        log_and_register(registered.folders["good"], MODEL)
