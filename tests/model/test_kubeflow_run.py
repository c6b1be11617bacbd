"""The pipeline as the Kubeflow Pipelines UI runs it: the compiled IR YAML, every step
stateless, against real services on 127.0.0.1.

The compiled YAML runs through KFP's local runner from an empty working directory with $HOME
pointing at an empty folder. An S3-compatible store (moto's server) holds the DVC remote (the
dataset is pushed there first and the repo's own cache removed), the checkpoints, the exported
bentos and MLflow's artifacts; `mlflow server` (SQLite) tracks the runs. The local runner keeps
its pipeline root on local disk (it cannot write to s3://); on a cluster `--pipeline-root
s3://...` puts it in the store too.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from mlflow import MlflowClient
from servers import free_port, running

from components.data.synth import write_synthetic_dataset

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny.yaml"
MODEL = "moderation-classifier"
STAGES = {"load_data", "validate", "split", "train", "evaluate", "baseline", "register"}
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
}
# What a pod would run: the compiled YAML, loaded as a component, under the local runner.
RUN_COMPILED = """
import json, sys
import kfp.local
from kfp import components
kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[2],
               raise_on_error=True)
components.load_component_from_file(sys.argv[1])(**json.loads(sys.argv[3]))
"""

pytestmark = pytest.mark.slow


def git(*args, cwd: Path) -> None:
    env = {**os.environ, **GIT_IDENTITY}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def dvc(*args, cwd: Path, env: dict) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def dataset_repo(tmp_path_factory, object_store):
    """A git + DVC repo whose `data/` (the seed corpus) lives only in the object store."""
    repo = tmp_path_factory.mktemp("dataset-repo")
    env = {**os.environ, **object_store.env}
    git("init", "-q", "-b", "main", cwd=repo)
    dvc("init", "-q", cwd=repo, env=env)
    write_synthetic_dataset(repo / "data")
    dvc("add", "data", cwd=repo, env=env)
    dvc("remote", "add", "-d", "store", f"s3://{object_store.bucket}/dvc", cwd=repo, env=env)
    dvc("push", cwd=repo, env=env)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "seed corpus", cwd=repo)
    subprocess.run(["rm", "-rf", str(repo / ".dvc" / "cache")], check=True)
    return repo


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, tracking_server):
    folder = tmp_path_factory.mktemp("compiled")
    output = folder / "pipeline.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "workflows.cli", "compile", "-c", str(TINY), "-o", str(output)]
        + ["--tracking-uri", tracking_server, "--image", "registry.example.org/modpipe:1"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return output


@pytest.fixture(scope="module")
def pod(tmp_path_factory, object_store):
    """A pod's view: an empty working directory, an empty $HOME and temporary folder (a pod's
    go with it), the store's endpoint and credentials in the environment, nothing else of this
    checkout."""
    work, home = tmp_path_factory.mktemp("pod-work"), tmp_path_factory.mktemp("pod-home")
    temp = tmp_path_factory.mktemp("pod-temp")
    keep = {"PATH", "LANG", "HF_HUB_OFFLINE"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(object_store.env, HOME=str(home), TMPDIR=str(temp), HF_HUB_OFFLINE="1")
    env.update(BENTOML_DO_NOT_TRACK="true")
    return work, env


def run_compiled(compiled: Path, pod, arguments: dict, env_changes: dict | None = None):
    work, env = pod
    env = {**env, **(env_changes or {})}
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-c", RUN_COMPILED, str(compiled), str(work / "root")]
        + [json.dumps(arguments)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def arguments(object_store, dataset_repo: Path, **overrides) -> dict:
    store = f"s3://{object_store.bucket}"
    return {
        "dataset_repo": dataset_repo.as_uri(),
        "dataset_rev": "main",
        "dataset_path": "data",
        "checkpoints": f"{store}/checkpoints",
        "bento_store": f"{store}/bentos",
        **overrides,
    }


def null_model_config() -> str:
    config = yaml.safe_load(TINY.read_text())
    config["name"] = "tiny-null"
    config["split"]["permute_train_labels"] = True
    return json.dumps(config)


@pytest.fixture(scope="module")
def runs(compiled, pod, object_store, dataset_repo, tracking_server):
    """A run whose training pod dies at step 12, its rerun (which resumes from the checkpoint in
    the object store and becomes the champion), then a null model whose gate fails."""
    killed = run_compiled(
        compiled, pod, arguments(object_store, dataset_repo), {"MODPIPE_STOP_AFTER_STEPS": "12"}
    )
    first = run_compiled(compiled, pod, arguments(object_store, dataset_repo))
    null = run_compiled(
        compiled, pod, arguments(object_store, dataset_repo, config_json=null_model_config())
    )
    return {"killed": killed, "first": first, "null": null}


def pipeline_runs(tracking_server: str) -> list:
    client = MlflowClient(tracking_server)
    experiment = client.get_experiment_by_name("moderation-pipeline")
    found = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    return [r for r in found if "mlflow.parentRunId" not in r.data.tags]


def stage_runs(tracking_server: str, parent) -> dict:
    client = MlflowClient(tracking_server)
    found = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    return {r.data.tags["stage"]: r for r in found}


def keys(object_store, prefix: str) -> list[str]:
    listing = object_store.s3.list_objects_v2(Bucket=object_store.bucket, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def test_a_killed_training_pod_is_retried_and_resumes_from_the_store(runs, tracking_server):
    assert runs["killed"].returncode != 0
    killed, first = pipeline_runs(tracking_server)[:2]
    assert killed.info.status == "FAILED"
    assert killed.data.tags["pipeline.error"].startswith("the train step failed")
    client = MlflowClient(tracking_server)
    attempts = client.search_runs(
        [killed.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{killed.info.run_id}' and tags.stage = 'train'",
        order_by=["attributes.start_time ASC"],
    )
    # The task and its two retries, each a fresh process killed 12 steps after resuming from
    # the last checkpoint it downloaded from the object store (every 10 steps: 10, 20, 30).
    assert [attempt.info.status for attempt in attempts] == ["FAILED"] * 3
    train = stage_runs(tracking_server, first)["train"]
    assert "'global_step': 30" in train.data.tags["resumed_from"]


def test_the_compiled_pipeline_runs_stateless_end_to_end(runs, tracking_server, object_store):
    assert runs["first"].returncode == 0, runs["first"].stderr[-4000:]
    parent = pipeline_runs(tracking_server)[1]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["kfp.pipeline_job"]  # opened by the pipeline, not by a CLI
    assert set(stage_runs(tracking_server, parent)) == STAGES | {"package"}
    client = MlflowClient(tracking_server)
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert str(champion.version) == "1"
    assert champion.tags["bento.uri"].startswith(f"s3://{object_store.bucket}/bentos/")
    assert [k.endswith(".bento") for k in keys(object_store, "bentos/")] == [True]
    assert {"checkpoints/tiny/checkpoint.pt", "checkpoints/tiny/best_model.pt"} <= set(
        keys(object_store, "checkpoints/")
    )
    assert keys(object_store, "mlartifacts/")  # MLflow's artifacts went to the store too


def test_a_failing_gate_leaves_the_champion_and_its_bento(runs, tracking_server, object_store):
    assert runs["null"].returncode == 0, runs["null"].stderr[-4000:]
    first, null = pipeline_runs(tracking_server)[1:3]
    assert null.info.status == "FINISHED" and null.data.tags["gate.passed"] == "false"
    assert set(stage_runs(tracking_server, null)) == STAGES | {"keep_champion"}
    aliases = MlflowClient(tracking_server).get_registered_model(MODEL).aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "1", "challenger": "2"}
    assert null.data.tags["served.bento"] == first.data.tags["bento"]
    assert len(keys(object_store, "bentos/")) == 1
    version = MlflowClient(tracking_server).get_model_version(MODEL, "2")
    assert version.tags["gate.passed"] == "false" and "FAIL" in version.tags["gate.reasons"]
    assert "bento" not in version.tags  # never packaged


def serve(command: list[str], env: dict, log: Path) -> dict:
    """Start `modpipe serve ...` on a free port, moderate one text, stop it; the answer."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [*command, "--port", str(port), "--workers", "1"]
    with running(command, f"{base}/readyz", log, env, cwd=REPO):
        answer = httpx.post(f"{base}/moderate", json={"input": "hello there"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_modpipe_serve_serves_the_champion_after_the_null_run(
    runs, tracking_server, object_store, tmp_path
):
    """No tag: the registry's champion, its bento imported from the store into an empty one."""
    env = {
        **os.environ,
        **object_store.env,
        "MLFLOW_TRACKING_URI": tracking_server,
        "BENTOML_HOME": str(tmp_path / "empty-store"),
    }
    modpipe = [sys.executable, "-m", "workflows.cli", "serve"]
    assert serve(modpipe, env, tmp_path / "serve.log")["model_version"] == "1"
    first = pipeline_runs(tracking_server)[1]
    assert f"serving {first.data.tags['bento']}" in (tmp_path / "serve.log").read_text()


def test_serve_from_the_object_store_answers(runs, tracking_server, object_store, tmp_path):
    tags = MlflowClient(tracking_server).get_model_version_by_alias(MODEL, "champion").tags
    env = {**os.environ, **object_store.env, "BENTOML_HOME": str(tmp_path / "empty-store")}
    env.pop("MLFLOW_TRACKING_URI", None)  # an exported bento needs no registry
    command = [sys.executable, "-m", "workflows.cli", "serve", "--from", tags["bento.uri"]]
    assert serve(command, env, tmp_path / "serve.log")["model_version"] == "1"


@pytest.mark.parametrize(
    "change, env_changes, cause",
    [
        ({"dataset_rev": "no-such-rev"}, {}, "unknown Git revision 'no-such-rev'"),
        ({"dataset_path": "no/such/folder"}, {}, "that path does not exist"),
        ({}, {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "Could not connect to the endpoint"),
        ({}, {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, "credentials"),
    ],
    ids=["unknown-rev", "unknown-path", "store-unreachable", "no-credentials"],
)
def test_faults_are_one_clear_line_and_fail_the_run(
    change, env_changes, cause, runs, compiled, pod, object_store, dataset_repo, tracking_server
):
    before = len(pipeline_runs(tracking_server))
    versions = len(MlflowClient(tracking_server).search_model_versions(f"name='{MODEL}'"))
    result = run_compiled(
        compiled, pod, arguments(object_store, dataset_repo, **change), env_changes
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if "error: load_data:" in line]
    assert errors and cause in errors[0], output[-3000:]
    runs_now = pipeline_runs(tracking_server)
    assert len(runs_now) == before + 1
    failed = runs_now[-1]
    assert failed.info.status == "FAILED"
    assert cause in failed.data.tags["pipeline.error"]
    assert len(MlflowClient(tracking_server).search_model_versions(f"name='{MODEL}'")) == versions


def test_the_compiled_yaml_has_ui_parameters_retries_and_the_image(compiled):
    spec = yaml.safe_load(compiled.read_text())
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    tiny = yaml.safe_load(TINY.read_text())
    assert parameters["epochs"]["defaultValue"] == tiny["train"]["epochs"]
    assert parameters["base_model"]["defaultValue"] == tiny["train"]["base_model"]
    assert parameters["target_precision"]["defaultValue"] == tiny["evaluate"]["target_precision"]
    assert parameters["dataset_path"]["defaultValue"] == "data"
    assert parameters["tracking_uri"]["defaultValue"].startswith("http://127.0.0.1:")
    executors = spec["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {
        "registry.example.org/modpipe:1"
    }
    train = spec["root"]["dag"]["tasks"]["exit-handler-1"]
    assert train  # the stages sit inside the exit handler
    train_task = spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]["train-op"]
    assert train_task["retryPolicy"]["maxRetryCount"] == 2
