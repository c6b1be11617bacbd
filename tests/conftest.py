"""Shared fixtures: paths to the real third-party data (read in place, never copied), small
canonical datasets, real object-store and MLflow servers on 127.0.0.1, and the serving tests'
tiny bento."""

import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from components.data.canonical import Category, DatasetCard

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DAVIDSON_CSV = SHARED_DATA / "davidson" / "labeled_data.csv"
JIGSAW_CSV = SHARED_DATA / "jigsaw-sample" / "train.csv"


def modpipe(capsys, monkeypatch, *args) -> tuple[int, str]:
    """Run `modpipe ARGS` in this process, as `main()` runs it; (exit code, all output)."""
    from workflows import cli

    monkeypatch.setattr(sys, "argv", ["modpipe", *map(str, args)])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    captured = capsys.readouterr()
    return exit_.value.code, captured.out + captured.err


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (it lives in ../shared/data beside the repo)")
    return path


@pytest.fixture
def davidson_csv() -> Path:
    return require(DAVIDSON_CSV)


@pytest.fixture
def jigsaw_csv() -> Path:
    return require(JIGSAW_CSV)


def spam_dataset(texts: list[str]) -> tuple[DatasetCard, pd.DataFrame]:
    """A one-category canonical dataset, labels alternating 0/1, for data-layer tests."""
    card = DatasetCard(
        name="tiny", source="test", categories=[Category(name="spam", description="Ads.")]
    )
    labels = pd.array([i % 2 for i in range(len(texts))], dtype="Int8")
    ids = [f"r{i}" for i in range(len(texts))]
    return card, pd.DataFrame({"id": ids, "text": texts, "source": "test", "label_spam": labels})


@pytest.fixture
def make_dataset():
    return spam_dataset


S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # no credential lookups beyond this machine
}


@pytest.fixture(scope="session")
def object_store(tmp_path_factory):
    """An S3-compatible store (moto's server) on 127.0.0.1 with one bucket; ``env`` holds the
    variables a client needs to reach it (credentials and endpoint)."""
    import boto3
    from servers import free_port, running

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with running(command, f"{endpoint}/moto-api/", log, {**os.environ, **S3_CREDENTIALS}, 60):
        env = {**S3_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "MLFLOW_S3_ENDPOINT_URL": endpoint}
        s3 = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())
        s3.create_bucket(Bucket="modpipe")
        yield SimpleNamespace(endpoint=endpoint, bucket="modpipe", env=env, s3=s3)


def _boto_credentials() -> dict:
    return {
        "aws_access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_CREDENTIALS["AWS_DEFAULT_REGION"],
    }


@pytest.fixture(scope="session")
def tracking_server(object_store, tmp_path_factory):
    """`mlflow server` on 127.0.0.1: SQLite backend, artifacts in the object store (clients
    send them through the server and need no S3 credentials). Yields its URL."""
    from servers import free_port, running

    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = [
        *(sys.executable, "-m", "mlflow", "server"),
        *("--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"),
        *("--artifacts-destination", f"s3://{object_store.bucket}/mlartifacts"),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **object_store.env}
    env.pop("MLFLOW_TRACKING_URI", None)
    with running(command, f"{url}/health", folder / "server.log", env, 120, cwd=folder):
        yield url


# The serving tests' tiny model and bento (tests/tiny_bento.py), shared by their modules: BentoML
# reads its home once per process, so the store, the model and the bento are made once a session.
@pytest.fixture(scope="session")
def bentoml_home(tmp_path_factory):
    from bentoml._internal.configuration.containers import BentoMLContainer

    home = tmp_path_factory.mktemp("bentoml")
    saved = {k: os.environ.get(k) for k in ("BENTOML_HOME", "BENTOML_DO_NOT_TRACK")}
    os.environ.update(BENTOML_HOME=str(home), BENTOML_DO_NOT_TRACK="true")
    # BentoML reads BENTOML_HOME once per process; fail loudly if something read it earlier.
    assert BentoMLContainer.bentoml_home.get() == str(home)
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    from tiny_bento import tiny_model

    directory = tiny_model().save(tmp_path_factory.mktemp("model") / "model")
    (directory / "metrics.json").write_text('{"macro_f1": 0.61}\n', encoding="utf-8")
    return directory


@pytest.fixture(scope="session")
def reference(model_dir):
    from components.model.modeling import ModerationModel

    return ModerationModel.load(model_dir, device="cpu")


@pytest.fixture(scope="session")
def model_tag(bentoml_home, model_dir) -> str:
    from tiny_bento import METADATA

    from components.registry.bentos import save_bento_model

    return save_bento_model(model_dir, METADATA)


@pytest.fixture(scope="session")
def bento_tag(model_tag) -> str:
    from components.registry.bentos import build_bento
    from serving.settings import BENTO_MODEL_NAME

    started = time.monotonic()
    # "latest" on purpose: the bento must record the concrete version it resolves to.
    tag = build_bento(f"{BENTO_MODEL_NAME}:latest")
    print(f"bento build: {time.monotonic() - started:.1f} s")
    return tag
