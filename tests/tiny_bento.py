"""A tiny model for the serving tests, and `bentoml serve` of its bento as an operator runs it:
a real subprocess on a free loopback port, with MODPIPE_SERVE_* variables, stopped by PID."""

import contextlib
import os
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from servers import running

from components.data.canonical import Category, Taxonomy
from components.model.modeling import TINY_BASE_MODEL, ModerationModel, build_classifier
from components.serving_config import ServingConfig
from serving.settings import MODEL_TAG_ENV, SETTINGS_ENV_PREFIX, settings_env_name

TAXONOMY = Taxonomy(
    categories=[
        Category(name="insult", description="Insults a person."),
        Category(name="threat", description="Threatens harm.", threshold=0.3),
        Category(name="scam", description="Tries to defraud.", threshold=0.7),
    ]
)
THRESHOLDS = {"insult": 0.5, "threat": 0.3, "scam": 0.7}
METADATA = {
    "model_version": "7",
    "dataset_version": "0123456789abcdef0123456789abcdef.dir",
    "metrics": {"macro_f1": 0.61, "macro_pr_auc": 0.55},
}
READY_TIMEOUT_S = 180


def tiny_model(pooling: str = "first_token") -> ModerationModel:
    classifier, tokenizer = build_classifier(TINY_BASE_MODEL, TAXONOMY, seed=0, pooling=pooling)
    # A random head gives scores within 1e-3 of 0.5 for every text; widen it so that a
    # mixed-up order of results could not pass the 1e-4 comparisons below.
    with torch.no_grad():
        classifier.classifier.weight.mul_(200.0)
    return ModerationModel(classifier, tokenizer, TAXONOMY, TINY_BASE_MODEL, 32, THRESHOLDS)


@contextlib.contextmanager
def serving(command: list[str], port: int, log: Path, settings: dict[str, str]):
    """A server with MODPIPE_SERVE_* variables, stopped with its workers by process group."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != MODEL_TAG_ENV and not k.startswith(SETTINGS_ENV_PREFIX)
    }
    env.update(settings)
    started = time.monotonic()
    url = f"http://127.0.0.1:{port}"
    with running(command, f"{url}/readyz", log, env, READY_TIMEOUT_S) as process:
        print(f"bentoml serve ready: {time.monotonic() - started:.1f} s")
        yield SimpleNamespace(url=url, log=log, process=process)


def settings_env(limits: ServingConfig) -> dict[str, str]:
    """The MODPIPE_SERVE_* variables that set ``limits`` where they differ from the defaults."""
    return {
        settings_env_name(name): str(value)
        for name, value in limits.model_dump(exclude_defaults=True).items()
    }
