"""What every stage's thin ``@dsl.component`` wrapper shares.

Wrappers run as separate processes (KFP's local SubprocessRunner, or pods on a cluster), so
their bodies import what they use. Each receives the run config as JSON (as the first step
resolved it), the MLflow tracking URI and the parent run's id, and opens its own nested MLflow
run; it reads only its inputs and named stores, and writes only its outputs and those stores.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kfp import dsl

from components.errors import ModpipeError

# Set by the local runner: a failing stage writes its one-line cause here for the CLI to print.
ERROR_FILE_ENV = "MODPIPE_ERROR_FILE"

# The image the cluster runs every step in (built from the repo's Dockerfile); `modpipe compile
# --image` and `modpipe run --host URL --image` put another in the compiled pipeline.
DEFAULT_IMAGE = "ghcr.io/moderation-pipeline/moderation-pipeline:0.1.0"


def component(func):
    """``@dsl.component`` in the project's image, which already has kfp and the project
    installed (nothing to pip-install per task). Inside a running task KFP's runtime mode has
    no decorator, and none is needed: the plain function is returned."""
    if not hasattr(dsl, "component"):
        return func
    return dsl.component(func, base_image=DEFAULT_IMAGE, install_kfp_package=False)


@contextmanager
def clean_failure(name: str) -> Iterator[None]:
    """A ModpipeError ends the process with its message (no traceback) and exit code 2, which
    fails the task; under the local runner the message also goes to the CLI's error file."""
    try:
        yield
    except ModpipeError as err:
        message = f"{name}: {err}"
        print(f"error: {message}", file=sys.stderr)
        if os.environ.get(ERROR_FILE_ENV):
            Path(os.environ[ERROR_FILE_ENV]).write_text(message, encoding="utf-8")
        sys.exit(2)


@contextmanager
def stage(name: str, config_json: str, tracking_uri: str, parent_run_id: str) -> Iterator:
    """Parse the run config and open this stage's MLflow run under the pipeline's run (marked
    FAILED if the stage fails), failing cleanly on a ModpipeError."""
    from components.config import parse_config
    from components.registry.tracking import note_failure, stage_run

    with clean_failure(name):
        config = parse_config(json.loads(config_json))
        with stage_run(name, parent_run_id or None, tracking_uri or None):
            try:
                yield config
            except ModpipeError as err:  # the exit handler only hears "a task failed"
                if parent_run_id:
                    note_failure(parent_run_id, f"{name}: {err}")
                raise
