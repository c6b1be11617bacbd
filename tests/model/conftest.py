"""Fixtures of the serving tests, shared by their modules: BentoML reads its home once per
process, so the store, the tiny model and its bento are built once a session."""

import os
import time
from pathlib import Path

import pytest
from bentoml._internal.configuration.containers import BentoMLContainer
from tiny_bento import METADATA, tiny_model

from components.model.modeling import ModerationModel
from components.registry.bentos import build_bento, save_bento_model
from serving.settings import BENTO_MODEL_NAME


@pytest.fixture(scope="session")
def bentoml_home(tmp_path_factory):
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
    directory = tiny_model().save(tmp_path_factory.mktemp("model") / "model")
    (directory / "metrics.json").write_text('{"macro_f1": 0.61}\n', encoding="utf-8")
    return directory


@pytest.fixture(scope="session")
def reference(model_dir) -> ModerationModel:
    return ModerationModel.load(model_dir, device="cpu")


@pytest.fixture(scope="session")
def model_tag(bentoml_home, model_dir) -> str:
    return save_bento_model(model_dir, METADATA)


@pytest.fixture(scope="session")
def bento_tag(model_tag) -> str:
    started = time.monotonic()
    # "latest" on purpose: the bento must record the concrete version it resolves to.
    tag = build_bento(f"{BENTO_MODEL_NAME}:latest")
    print(f"bento build: {time.monotonic() - started:.1f} s")
    return tag
