"""What a Kubeflow submission is checked for and compiled with, without a cluster."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from components.config import UI_PARAMETERS, load_config, ui_parameters, with_ui_parameters
from components.errors import ModpipeError
from components.stages.run import check_tracking_uri
from components.storage import is_remote, mirrored_folder

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny.yaml"


def modpipe(*args, env_changes: dict | None = None):
    env = {**os.environ, **(env_changes or {})}
    return subprocess.run(
        [sys.executable, "-m", "workflows.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )


@pytest.mark.parametrize("uri", ["sqlite:///mlflow.db", "file:///tmp/mlruns", "mlruns", ""])
def test_a_local_tracking_store_is_refused_for_a_cluster(uri, monkeypatch):
    with pytest.raises(ModpipeError, match="tracking"):
        check_tracking_uri(uri, submitting=True)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")  # as in a pod: the first step
    with pytest.raises(ModpipeError, match="tracking"):
        check_tracking_uri(uri)


def test_a_tracking_server_is_accepted_and_local_runs_keep_their_store(monkeypatch):
    check_tracking_uri("https://mlflow.example.org", submitting=True)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    check_tracking_uri("sqlite:///mlflow.db")


def test_submitting_with_a_local_store_is_one_clear_line_and_submits_nothing():
    result = modpipe(
        "run",
        "-c",
        TINY,
        "--host",
        "http://127.0.0.1:9",
        env_changes={"MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"},
    )
    assert result.returncode == 2
    assert "cannot reach the local MLflow store sqlite:///mlflow.db" in result.stderr
    assert "Traceback" not in result.stderr and "submitted" not in result.stdout


def test_ui_parameters_round_trip_and_are_validated():
    config = load_config(TINY)
    values = ui_parameters(config)
    assert set(values) == set(UI_PARAMETERS)
    assert values["epochs"] == config.train.epochs and values["dataset_repo"] == ""
    assert with_ui_parameters(config, values) == config
    changed = with_ui_parameters(config, {"dataset_repo": "https://git.example.org/d.git"})
    assert changed.data.repo == "https://git.example.org/d.git"
    with pytest.raises(ModpipeError, match="train.epochs"):
        with_ui_parameters(config, {"epochs": 0})


def test_compile_takes_the_image_pipeline_root_and_a_checkpoint_volume(tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["resources"].update(checkpoint_pvc="moderation-checkpoints")
    preset = tmp_path / "pvc.yaml"
    preset.write_text(yaml.safe_dump(config))
    output = tmp_path / "p.yaml"
    result = modpipe(
        "compile",
        "-c",
        preset,
        "-o",
        output,
        "--image",
        "registry.example.org/modpipe:2",
        "--pipeline-root",
        "s3://bucket/pipeline",
    )
    assert result.returncode == 0, result.stderr
    pipeline, platform = yaml.safe_load_all(output.read_text())
    assert pipeline["defaultPipelineRoot"] == "s3://bucket/pipeline"
    images = {e["container"]["image"] for e in pipeline["deploymentSpec"]["executors"].values()}
    assert images == {"registry.example.org/modpipe:2"}
    mounts = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train-op"]
    assert mounts["pvcMount"][0]["mountPath"] == "/checkpoints"


def test_a_local_checkpoint_location_is_the_folder_itself(tmp_path):
    assert not is_remote(str(tmp_path)) and is_remote("s3://bucket/x")
    with mirrored_folder(str(tmp_path / "ck"), ("checkpoint.pt",)) as folder:
        (folder / "checkpoint.pt").write_bytes(b"state")
    assert (tmp_path / "ck" / "checkpoint.pt").read_bytes() == b"state"


def test_a_mirrored_folder_resumes_from_and_uploads_to_object_storage(object_store, monkeypatch):
    for name, value in object_store.env.items():
        monkeypatch.setenv(name, value)
    bucket, s3 = object_store.bucket, object_store.s3
    s3.put_object(Bucket=bucket, Key="mirror/run/checkpoint.pt", Body=b"step 10")
    location = f"s3://{bucket}/mirror/run"
    with mirrored_folder(location, ("checkpoint.pt", "best_model.pt")) as folder:
        assert (folder / "checkpoint.pt").read_bytes() == b"step 10"
        assert not (folder / "best_model.pt").exists()
        (folder / "best_model.pt").write_bytes(b"best")
        deadline = time.monotonic() + 30
        while "mirror/run/best_model.pt" not in keys(s3, bucket) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "mirror/run/best_model.pt" in keys(s3, bucket)  # uploaded while still open
        (folder / "checkpoint.pt").write_bytes(b"step 20")
    body = s3.get_object(Bucket=bucket, Key="mirror/run/checkpoint.pt")["Body"].read()
    assert body == b"step 20"  # the last state is uploaded on exit


def keys(s3, bucket: str) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
