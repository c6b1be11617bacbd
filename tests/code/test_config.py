"""Pipeline configs: strict types, Kubernetes quantities, every failure before the run starts
(exit 2, one line), and a parent MLflow run that fails is never left RUNNING or FINISHED."""

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow import MlflowClient

from components.config import (
    PipelineConfig,
    load_config,
    parse_config,
    ui_parameters,
    with_ui_parameters,
)
from components.errors import ModpipeError

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny.yaml"
PRESETS = [REPO / "configs" / f"{name}.yaml" for name in ("tiny", "demo", "starter", "davidson")]


def config_with(**sections) -> dict:
    """The tiny preset's raw mapping with some sections' keys (or top-level values) replaced."""
    raw = yaml.safe_load(TINY.read_text())
    for section, values in sections.items():
        raw[section] = {**raw.get(section, {}), **values} if isinstance(values, dict) else values
    return raw


def rejected(raw: dict, key: str) -> str:
    with pytest.raises(ModpipeError) as error:
        parse_config(raw)
    message = str(error.value)
    assert f"{key}:" in message and "\n" not in message
    return message


@pytest.mark.parametrize(
    "section, values, key",
    [
        ("train", {"epochs": True}, "train.epochs"),
        ("train", {"batch_size": False}, "train.batch_size"),
        ("train", {"augment": {"quoting": True}}, "train.augment.quoting"),
        ("split", {"seed": True}, "split.seed"),
        ("data", {"max_rows": True}, "data.max_rows"),
        ("resources", {"gpus": True}, "resources.gpus"),
        ("serving", {"workers": True}, "serving.workers"),
    ],
)
def test_a_bool_is_not_an_int(section, values, key):
    assert "Input should be a valid integer (got" in rejected(config_with(**{section: values}), key)


@pytest.mark.parametrize(
    "section, values, key",
    [
        ("train", {"learning_rate": "0.5"}, "train.learning_rate"),
        ("train", {"epochs": "3"}, "train.epochs"),
        ("evaluate", {"target_precision": "0.8"}, "evaluate.target_precision"),
        ("evaluate", {"per_category_precision": {"hate": "0.5"}}, "per_category_precision.hate"),
        ("gate", {"max_pr_auc_drop": True}, "gate.max_pr_auc_drop"),
        ("train", {"epochs": 2.5}, "train.epochs"),
        ("serving", {"quantize": "yes"}, "serving.quantize"),
        ("train", {"class_weighting": True}, "train.class_weighting"),
        ("train", {"source_weights": {"seed": "2"}}, "train.source_weights.seed"),
    ],
)
def test_no_value_of_another_type_is_taken(section, values, key):
    rejected(config_with(**{section: values}), key)


def test_what_yaml_writes_naturally_still_loads(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text(
        "data:\n  directory: datasets/forum\n  max_rows: 400\n"
        "train:\n  learning_rate: 1e-3\n  warmup_ratio: 0\n  soft_labels: soft\n"
        "  source_weights: {seed: 2}\n"
        "  augment:\n    quoting: 10\n"
        "resources:\n  cpu: 4\n  memory: 512Mi\n"
        "checkpoints: s3://bucket/checkpoints\n"
        "serving:\n  quantize: yes\n  request_timeout_s: 5\n"
    )
    config = load_config(preset)
    assert config.train.learning_rate == 0.001  # YAML 1.2's float, not PyYAML's string
    assert isinstance(config.train.warmup_ratio, float)  # an int where a float is wanted
    assert config.data.directory == Path("datasets/forum")  # a path given as a string
    assert (config.train.soft_labels, config.train.augment.quoting) == ("soft", 10)
    assert config.train.source_weights == {"seed": 2.0}
    assert (config.resources.cpu, config.resources.memory) == ("4", "512Mi")
    assert (config.serving.quantize, config.serving.request_timeout_s) == (True, 5.0)


@pytest.mark.parametrize(
    ("section", "field", "naming"),
    [
        ("train", "source_weights", lambda name: {name: 2}),
        ("evaluate", "cutoffs_without", lambda name: [name]),
    ],
)
def test_fields_naming_sources_name_a_mixtures_training_sources(section, field, naming):
    data = {
        "directory": "data",
        "max_rows": None,
        "sources": [
            {"name": "seed", "directory": "data"},
            {"catalogue": "davidson"},
            {"catalogue": "bias-madlibs", "role": "evaluation"},
        ],
    }
    weights = {"seed": 2, "davidson": 0.5, "augment:negation": 2}
    parse_config(config_with(data=data, train={"source_weights": weights}))
    parse_config(config_with(data=data, evaluate={"cutoffs_without": ["seed"]}))
    for typo in ("sede", "bias-madlibs"):  # an evaluation source has no training rows
        message = rejected(config_with(data=data, **{section: {field: naming(typo)}}), typo)
        assert f"{section}.{field} names {typo}" in message
        assert "(they are: davidson, seed)" in message
    # A dataset folder's sources are known only once it is read: training checks the weights.
    parse_config(config_with(**{section: {field: naming("sede")}}))


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_a_config_survives_the_way_every_stage_reads_it(preset):
    config = load_config(preset)
    assert parse_config(json.loads(config.model_dump_json())) == config
    assert with_ui_parameters(config, ui_parameters(config)) == config


def test_ui_parameters_take_kfps_types_and_no_others():
    config = load_config(TINY)
    changed = with_ui_parameters(config, {"epochs": 4, "learning_rate": 1, "dataset_rev": ""})
    assert (changed.train.epochs, changed.train.learning_rate) == (4, 1.0)
    assert changed.data.rev is None
    for name, value in [("epochs", True), ("epochs", "4"), ("learning_rate", "0.1")]:
        with pytest.raises(ModpipeError, match="pipeline parameters"):
            with_ui_parameters(config, {name: value})


@pytest.mark.parametrize(
    "given, stored",
    [("16G", "16G"), ("512Mi", "512Mi"), ("1e3", "1000"), ("1.5Gi", "1536Mi"), ("2k", "2000")],
)
def test_memory_is_a_kubernetes_quantity_in_a_form_kfp_compiles(given, stored):
    assert parse_config(config_with(resources={"memory": given})).resources.memory == stored


@pytest.mark.parametrize(
    "given, stored", [("4", "4"), ("500m", "500m"), ("0.5", "500m"), (2, "2"), ("1e3", "1000")]
)
def test_cpu_is_a_kubernetes_quantity_in_a_form_kfp_compiles(given, stored):
    assert parse_config(config_with(resources={"cpu": given})).resources.cpu == stored


@pytest.mark.parametrize("key", ["memory", "cpu"])
@pytest.mark.parametrize("value", ["lots", "", "16 G", "1K", "0", "-1", True, "1e3.5"])
def test_anything_else_is_refused_naming_the_key(key, value):
    message = rejected(config_with(resources={key: value}), f"resources.{key}")
    assert "quantity" in message


def test_odd_but_valid_quantities_compile():
    from workflows.pipeline import build_pipeline

    raw = config_with(resources={"memory": "1.5e9", "cpu": "2.5e-1", "gpus": 2})
    build_pipeline(parse_config(raw))  # KFP checks each resource as it is set


@pytest.mark.parametrize(
    "sections, key",
    [
        ({"resources": {"gpu_type": "nvidia gpu"}}, "resources.gpu_type"),
        ({"resources": {"checkpoint_pvc": "My_Claim"}}, "resources.checkpoint_pvc"),
        ({"resources": {"checkpoint_mount": "checkpoints"}}, "resources.checkpoint_mount"),
        ({"registry": {"bento_store": "s4://bucket/bentos"}}, "registry.bento_store"),
        ({"checkpoints": "s4://bucket/checkpoints"}, "checkpoints"),
        ({"evaluate": {"per_category_precision": {"hate?": 0.5}}}, "precision.hate?.[key]"),
        ({"evaluate": {"per_category_recall_floor": {"hate": 1.5}}}, "recall_floor.hate"),
        ({"data": {"validation": {"min_chars": 50, "max_chars": 10}}}, "data.validation"),
    ],
)
def test_what_would_fail_later_fails_when_the_config_loads(sections, key):
    rejected(config_with(**sections), key)


def modpipe(*args, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workflows.cli", *map(str, args)],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize(
    "text, phrase",
    [
        (TINY.read_text().replace("epochs: 2", "epochs: true"), "train.epochs"),
        (TINY.read_text().replace("memory: 2G", "memory: lots"), "resources.memory"),
        ("train:\n  epochs: 2\n bad: [indent\n", "not readable YAML"),
    ],
    ids=["bool-for-int", "bad-quantity", "broken-yaml"],
)
def test_modpipe_run_with_a_bad_config_exits_2_in_one_line(text, phrase, tmp_path):
    preset = tmp_path / "bad.yaml"
    preset.write_text(text)
    store = tmp_path / "mlflow.db"
    result = modpipe("run", "--config", preset, env={"MLFLOW_TRACKING_URI": f"sqlite:///{store}"})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and phrase in lines[0], lines
    assert not store.exists()  # no run was started


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A real MLflow store in tmp_path, as `modpipe run` finds it; left as it was found."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # the run's log goes to ./runs/kfp
    yield MlflowClient(tracking_uri=uri)
    mlflow.set_tracking_uri(None)


def parent_run(client: MlflowClient):
    experiment = client.get_experiment_by_name(PipelineConfig().registry.experiment)
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    return parent


@pytest.mark.parametrize(
    "raised, status",
    [(KeyboardInterrupt(), "KILLED"), (ValueError("boom"), "FAILED")],
    ids=["interrupt", "crash"],
)
def test_a_run_that_stops_is_closed_killed_or_failed(raised, status, tracking, monkeypatch):
    from workflows import runner

    def stop(*args):
        raise raised

    monkeypatch.setattr(runner, "run_pipeline_logged", stop)
    with pytest.raises(type(raised)):
        runner.run_local(load_config(TINY), show=lambda line: None)
    run = parent_run(tracking)
    assert run.info.status == status
    assert run.data.tags["pipeline.error"] == ("interrupted" if status == "KILLED" else "boom")


def test_a_parent_run_that_cannot_log_its_config_is_failed(tracking):
    from components.registry.tracking import create_parent_run, setup_tracking

    setup_tracking(None, "exp")
    with pytest.raises(ModpipeError, match="cannot start the pipeline run"):
        create_parent_run("exp", {"not an MLflow param name?": 1}, {}, run_name="bad")
    (run,) = tracking.search_runs([tracking.get_experiment_by_name("exp").experiment_id])
    assert run.info.status == "FAILED"
