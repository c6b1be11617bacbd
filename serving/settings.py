"""What the packaging step and the service agree on: names in the BentoML store, bento arguments,
and how the service's settings are resolved. Light on purpose: the bento imports it."""

from __future__ import annotations

import os
from collections.abc import Mapping

import yaml

from components.config_base import ConfigLoader
from components.data.canonical import validate_model
from components.serving_config import ServingConfig

BENTO_MODEL_NAME = "moderation-classifier"
BENTO_NAME = "moderation-service"  # the name in serving/bentofile.yaml
MODEL_SUBDIR = "moderation"  # the ModerationModel folder inside the BentoML model
MODEL_TAG_ARGUMENT = "model_tag"  # bento argument: the model the bento serves
SERVING_ARGUMENT = "serving"  # bento argument: the pipeline's ServingConfig, as a mapping
MODEL_TAG_ENV = "MODPIPE_MODEL_TAG"  # overrides the model_tag argument when serving
SETTINGS_ENV_PREFIX = "MODPIPE_SERVE_"  # MODPIPE_SERVE_MAX_TEXTS=64 overrides max_texts


def threads_per_worker(workers: int) -> int:
    """torch threads for each of ``workers`` processes sharing the CPUs this process may run on
    (its affinity mask, e.g. a cpuset), not all the host's."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cpus or 1) // workers)


def settings_env_name(field: str) -> str:
    return SETTINGS_ENV_PREFIX + field.upper()


def env_value(text: str):
    """A variable's value read as the same setting in a preset would be: a YAML scalar ("64",
    "true", "1e-3"), which is then validated as strictly; text that is no YAML stays text."""
    try:
        return yaml.load(text, Loader=ConfigLoader)
    except yaml.YAMLError:
        return text


def resolve_settings(
    recorded: Mapping | None, environ: Mapping[str, str] = os.environ
) -> ServingConfig:
    """The settings recorded in the bento, with ``MODPIPE_SERVE_<NAME>`` variables on top.

    Bento arguments given to ``bentoml serve --arg`` cannot do this: BentoML replaces them with
    the ones recorded at build time when it loads a bento.
    """
    overrides = {
        field: env_value(environ[settings_env_name(field)])
        for field in ServingConfig.model_fields
        if settings_env_name(field) in environ
    }
    variables = "".join(f", {settings_env_name(field)}" for field in overrides)
    return validate_model(
        {**(recorded or {}), **overrides}, ServingConfig, f"serving settings (bento{variables})"
    )
