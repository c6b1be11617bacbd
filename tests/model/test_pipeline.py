"""`modpipe run` end to end, as a user runs it: the tiny preset through KFP's local runner, a
real MLflow store and BentoML store in a temporary folder, and `bentoml serve` on the bento."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from servers import free_port, running

from components.model.vision.known import KNOWN_IMAGES_FILE, KnownImage, KnownImages
from serving.settings import MODEL_SUBDIR

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny.yaml"
CATEGORIES = {"hate", "harassment", "violence", "self_harm", "sexual", "spam"}  # the seed corpus's
STAGES = {"load_data", "validate", "split", "train", "evaluate", "baseline", "register", "package"}

pytestmark = pytest.mark.slow


def tiny_config(tmp: Path, filename: str, **overrides) -> Path:
    """The tiny preset with its own checkpoint folder, plus section overrides."""
    config = yaml.safe_load(TINY.read_text())
    config["checkpoints"] = str(tmp / "checkpoints")
    for section, values in overrides.items():
        config[section] = (
            {**config.get(section, {}), **values} if isinstance(values, dict) else values
        )
    path = tmp / f"{filename}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def modpipe(*args, env: dict, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workflows.cli", *map(str, args)],
        cwd=REPO,
        env={**env, **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
        "BENTOML_HOME": str(tmp / "bentoml"),
        "HF_HUB_OFFLINE": "1",
    }
    return tmp, env


def forum_source(folder: Path) -> Path:
    """A second source: seed-corpus texts relabelled `insult` (only that), some shared with the
    seed sample so the mixture has cross-source duplicates to remove."""
    from components.data.canonical import Category, DatasetCard, write_dataset
    from components.data.synth import synthesize_corpus

    _, seed = synthesize_corpus()  # data/'s rows, which a fresh clone has not pulled yet
    rows = seed.sample(n=200, random_state=1).reset_index(drop=True)
    frame = rows[["id", "text"]].assign(
        id=rows["id"].radd("forum-"), source="forum", label_insult=rows["label_harassment"]
    )
    insult = Category(name="insult", description="Insults a person.")
    write_dataset(folder, DatasetCard(name="forum", source="forum", categories=[insult]), frame)
    return folder


def mixture_config(tmp: Path, filename: str, **forum) -> Path:
    """The tiny preset on a mixture: 400 rows of the seed corpus and the forum source."""
    sources = [
        {"name": "seed", "directory": str(REPO / "data"), "max_rows": 400},
        {"directory": str(forum_source(tmp / "forum")), "categories": {"insult": "harassment"}},
    ]
    sources[1].update(forum)
    data = {"sources": sources, "validation": {"min_positives": 5}}
    config = yaml.safe_load(tiny_config(tmp, filename).read_text())
    config["data"] = data
    config["evaluate"]["known_images"] = str(known_images_list(tmp / "known_images.jsonl"))
    path = tmp / f"{filename}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def known_images_list(path: Path) -> Path:
    KnownImages([KnownImage(id="removed-1", category="violence", hash="8f373714acfcf4d0")]).write(
        path
    )
    return path


@pytest.fixture(scope="module")
def run_temp(stores) -> Path:
    """The run's TMPDIR, a folder of its own."""
    folder = stores[0] / "run-temp"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def run(stores, run_temp):
    """The first model of a fresh store, trained on a two-source mixture: it becomes the
    champion. (An interrupted run that resumes, and a null model that stays out, are in
    test_kubeflow_run.py, on one dataset.)"""
    tmp, env = stores
    config = mixture_config(tmp, "tiny")
    return modpipe("run", "-c", config, env=env, extra_env={"TMPDIR": str(run_temp)})


def client(env) -> MlflowClient:
    return MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])


def parent_runs(env) -> list:
    mlflow = client(env)
    experiment = mlflow.get_experiment_by_name("moderation-pipeline")
    runs = mlflow.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags]


def children(env, parent_id: str) -> dict:
    mlflow = client(env)
    runs = mlflow.search_runs(
        [mlflow.get_run(parent_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
    )
    return {r.data.tags["stage"]: r for r in runs}


def test_run_tracks_every_stage_and_registers_the_champion(run, stores):
    _, env = stores
    assert run.returncode == 0, run.stderr[-3000:]
    [parent] = parent_runs(env)
    assert parent.info.status == "FINISHED"  # closed by the pipeline's exit handler
    assert "pipeline.wall_seconds" in parent.data.metrics
    assert parent.data.params["dataset.md5"].endswith(".dir")
    version = parent.data.params["dataset.version"]
    assert re.fullmatch(r"seed=\w+\.dir, forum=\w+\.dir", version), version
    assert parent.data.params["base_model"] == "tiny-random-bert"
    assert "mlflow.source.git.commit" in parent.data.tags or not (REPO / ".git").exists()
    assert {"macro.pr_auc", "baseline.macro.pr_auc", "lift.macro.pr_auc"} <= set(
        parent.data.metrics
    )
    stages = children(env, parent.info.run_id)
    assert set(stages) == STAGES
    evaluated = set(stages["evaluate"].data.metrics)
    assert {"macro.pr_auc", "macro.f1", "source.seed.macro.pr_auc"} <= evaluated
    assert "source.forum.harassment.pr_auc" in evaluated
    assert not any(k.startswith("source.forum.spam") for k in evaluated)  # forum labels no spam
    loaded = stages["load_data"].data.metrics
    assert loaded["dataset.forum.duplicates_removed"] > 0
    assert loaded["dataset.seed.rows"] + loaded["dataset.forum.rows"] < 600
    assert any(k.startswith("baseline.") for k in stages["baseline"].data.metrics)
    mlflow = client(env)
    assert (
        str(mlflow.get_model_version_by_alias("moderation-classifier", "champion").version) == "1"
    )
    first = mlflow.get_model_version("moderation-classifier", "1")
    assert first.tags["gate.passed"] == "true" and first.tags["dataset_version"] == version
    tmp, _ = stores
    (packaged,) = (tmp / "bentoml" / "models").glob(f"*/*/{MODEL_SUBDIR}")
    assert (packaged / KNOWN_IMAGES_FILE).read_text() == (tmp / KNOWN_IMAGES_FILE).read_text()


def test_a_run_leaves_no_temporary_files(run, run_temp):
    """Reports, steps' code and copies of the splits are gone; caches shared by every run
    (torch's compile cache, dot files) may stay."""
    assert run.returncode == 0, run.stderr[-3000:]
    left = [p.name for p in run_temp.iterdir() if not p.name.startswith((".", "torchinductor_"))]
    assert left == []


SERVED = re.compile(r"served bento \(the champion's\): (\S+),")


def test_modpipe_serve_serves_the_champions_bento(run, stores, tmp_path):
    _, env = stores
    first = SERVED.search(run.stdout).group(1)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "workflows.cli", "serve", "--port", str(port)]
    with running(command, f"{base}/readyz", tmp_path / "serve.log", env, cwd=REPO):
        answer = httpx.post(
            f"{base}/moderate", json={"input": ["hello there", "buy now"]}, timeout=30
        )
    assert f"serving {first}" in (tmp_path / "serve.log").read_text()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["results"]) == 2
    assert set(body["results"][0]["category_scores"]) == CATEGORIES
    assert body["model_version"] == "1"
    assert body["dataset_version"].startswith("seed=") and ", forum=" in body["dataset_version"]


def test_compile_writes_every_component_typed_artifacts_and_gpu_request(tmp_path, stores):
    _, env = stores
    gpu = tiny_config(tmp_path, "gpu", resources={"gpus": 2, "memory": "12G"})
    result = modpipe("compile", "-c", gpu, "-o", tmp_path / "p.yaml", env=env)
    assert result.returncode == 0, result.stderr
    spec = yaml.safe_load((tmp_path / "p.yaml").read_text())
    components = set(spec["components"])
    for name in STAGES:
        assert f"comp-{name.replace('_', '-')}-op" in components
    text = (tmp_path / "p.yaml").read_text()
    for artifact in ("Dataset", "Model", "Metrics", "ClassificationMetrics", "HTML"):
        assert f"system.{artifact}" in text
    resources = spec["deploymentSpec"]["executors"]["exec-train-op"]["container"]["resources"]
    assert resources["accelerator"]["resourceCount"] == "2"
    assert resources["memoryLimit"] == 12.0
    assert json.loads(spec["root"]["inputDefinitions"]["parameters"]["config_json"]["defaultValue"])


def registered_versions(env) -> int:
    return len(client(env).search_model_versions("name='moderation-classifier'"))


@pytest.mark.parametrize(
    "overrides, phrase",
    [
        ({"train": {"epochs": 0}}, "train.epochs"),
        ({"train": {"epochz": 2}}, "epochz"),
        ({"train": {"base_model": "/nowhere/model"}}, "/nowhere/model"),
        ({"data": {"max_rows": 6, "validation": {"min_positives": 0}}}, "too few to split"),
    ],
    ids=["invalid-value", "unknown-key", "unknown-base-model", "empty-split"],
)
def test_bad_run_input_is_a_clear_error_and_registers_nothing(overrides, phrase, tmp_path):
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}",
        "BENTOML_HOME": str(tmp_path / "b"),
        "HF_HUB_OFFLINE": "1",
    }
    result = modpipe("run", "-c", tiny_config(tmp_path, "bad", **overrides), env=env)
    assert result.returncode != 0
    assert phrase in result.stderr
    assert "Traceback" not in result.stderr.split("error:")[-1]
    assert not (tmp_path / "m.db").exists() or registered_versions(env) == 0


def test_a_bad_mixture_fails_before_the_run_starts(tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}"}
    config = mixture_config(tmp_path, "bad", categories={"threat": "violence"})
    result = modpipe("run", "-c", config, env=env)
    assert result.returncode == 2
    assert "source 'forum' has no category 'threat'" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "m.db").exists()


def test_dataset_failing_validation_stops_the_run(tmp_path):
    from components.data.canonical import read_dataset, write_dataset
    from components.data.synth import synthesize_corpus

    card, frame = synthesize_corpus(rows=400)
    frame.loc[frame.index[:30], "text"] = ""
    write_dataset(tmp_path / "broken", card, frame)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}",
        "BENTOML_HOME": str(tmp_path / "b"),
        "HF_HUB_OFFLINE": "1",
    }
    config = tiny_config(tmp_path, "broken", data={"directory": str(tmp_path / "broken")})
    result = modpipe("run", "-c", config, env=env)
    assert result.returncode != 0
    assert "failed validation" in result.stderr and "text" in result.stderr
    assert registered_versions(env) == 0
    assert read_dataset(tmp_path / "broken")[1]["text"].eq("").sum() == 30  # input untouched
    [parent] = parent_runs(env)
    assert parent.info.status == "FAILED"  # never FINISHED, never left RUNNING
    assert "validate" in parent.data.tags["pipeline.error"]


def test_missing_mlflow_store_is_a_clear_error(tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": "sqlite:////nonexistent/folder/mlflow.db"}
    result = modpipe("run", "-c", tiny_config(tmp_path, "t"), env=env)
    assert result.returncode != 0
    assert "/nonexistent/folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_evaluate_scores_data_with_the_champion_and_the_bento(run, stores):
    _, env = stores
    tag = SERVED.search(run.stdout).group(1)
    for model in ("models:/moderation-classifier@champion", tag):
        result = modpipe("evaluate", "--model", model, "--data", "data", env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        report = json.loads(result.stdout)
        assert report["rows"] == 3600
        assert set(report["per_category"]) == CATEGORIES
        assert 0 <= report["macro"]["pr_auc"] <= 1
    missing = modpipe(
        "evaluate", "--model", "models:/moderation-classifier@nobody", "--data", "data", env=env
    )
    assert missing.returncode != 0 and "Traceback" not in missing.stderr


def test_ui_serves_mlflow_on_loopback(stores, tmp_path):
    _, env = stores
    port = free_port()
    command = [sys.executable, "-m", "workflows.cli", "ui", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with running(command, f"{url}/health", tmp_path / "ui.log", env, 90, REPO):
        search = httpx.get(f"{url}/api/2.0/mlflow/experiments/search?max_results=5")
        assert search.status_code == 200


def test_recall_compiles_with_a_task_per_shard_and_typed_artifacts(tmp_path):
    from components.config import load_config
    from workflows.runner import compile_pipeline

    config = load_config(TINY)
    config.recall.mine_batch = 20  # adds the mining step
    output = compile_pipeline(config, tmp_path / "recall.yaml", pipeline="recall")
    spec = yaml.safe_load(output.read_text())
    assert set(spec["root"]["inputDefinitions"]["parameters"]) >= {"pool", "budget", "model"}
    loop = next(t for t in spec["root"]["dag"]["tasks"].values() if "parameterIterator" in t)
    assert "comp-scan-op" in json.dumps(spec["components"][loop["componentRef"]["name"]])
    assert {"comp-queue-op", "comp-mine-op"} <= set(spec["components"])
    for artifact in ("Dataset", "Model", "Metrics", "HTML"):
        assert f"system.{artifact}" in output.read_text()


def test_recall_pipeline_scans_shards_with_the_champion_and_its_index(run, stores, tmp_path):
    """The champion the run registered carries its known-violation index; the KFP recall
    pipeline scans a pool in two shards with it, under one MLflow run."""
    tmp, env = stores
    assert run.returncode == 0, run.stderr
    from components.data.synth import synthesize_corpus

    _, seed = synthesize_corpus()
    rows = seed.sample(n=50, random_state=3)[["id", "text"]].assign(source="synthetic")
    pool = tmp_path / "pool.csv"
    rows.to_csv(pool, index=False)
    terms = tmp_path / "terms.yaml"
    terms.write_text("spam:\n  - free\n")
    # The tiny encoder finds the seed corpus's texts alike: only copies are duplicates here.
    recall = {"shard_size": 30, "terms": str(terms), "duplicate_similarity": 0.9999}
    config = tiny_config(tmp_path, "recall", recall=recall)
    output = tmp_path / "queue"
    result = modpipe("recall", pool, "--budget", 5, "-c", config, "-o", output, "--kfp", env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    queue = pd.read_json(output / "queue.jsonl", lines=True, dtype={"id": str})
    assert len(queue) == 5 and set(queue["id"]) <= set(rows["id"])
    assert (queue["nearest_id"].astype(str) != "").any(), "the champion's index was searched"
    parent = result.stdout.split("MLflow run: ")[1].split()[0]
    scans = {f"scan shard-0000{n}.parquet" for n in (0, 1)}
    assert set(children(env, parent)) == {"prepare pool", "fetch model", "queue", *scans}
    assert client(env).get_run(parent).info.status == "FINISHED"
