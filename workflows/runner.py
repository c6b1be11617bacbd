"""Run the pipeline: locally through KFP's SubprocessRunner, or on a Kubeflow Pipelines cluster.

Either way the CLI first opens the MLflow parent run, so every stage's run nests under it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from components.config import PipelineConfig
from components.errors import ModpipeError
from components.kfp_support import ERROR_FILE_ENV
from components.tracking import end_parent_run, setup_tracking, start_parent_run, tracking_uri

PIPELINE_ROOT = Path("runs") / "kfp"


@dataclass(frozen=True)
class RunResult:
    parent_run_id: str
    tracking_uri: str
    bento_tag: str | None = None
    seconds: float = 0.0
    url: str | None = None


def _plain(err: Exception) -> str:
    """KFP's message without its terminal colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", str(err))


class PipelineLog(io.TextIOBase):
    """Stands in for stdout while KFP runs: every line goes to the log file, and the console
    shows one line as each task starts and ends."""

    STARTED = re.compile(r"Executing task '([\w-]+)'")
    ENDED = re.compile(r"Task '([\w-]+)' finished with status (\w+)")

    def __init__(self, path: Path, show):
        self.file = open(path, "w", encoding="utf-8")  # noqa: SIM115  (closed in close())
        self.show = show
        self.pending = ""
        self.started: dict[str, float] = {}

    def write(self, text: str) -> int:
        self.file.write(text)
        *lines, self.pending = (self.pending + text).split("\n")
        for line in map(_plain, lines):
            if found := self.STARTED.search(line):
                self.started[found[1]] = time.perf_counter()
            elif found := self.ENDED.search(line):
                seconds = time.perf_counter() - self.started.get(found[1], time.perf_counter())
                mark = "[green]✓[/]" if found[2] == "SUCCESS" else "[red]✗[/]"
                self.show(f"{mark} {found[1].removesuffix('-op'):12} {seconds:6.1f} s")
        return len(text)

    def close(self) -> None:
        self.file.close()
        super().close()


def _arguments(config: PipelineConfig, tracking_uri: str, parent_run_id: str) -> dict:
    return {
        "config_json": config.model_dump_json(),
        "tracking_uri": tracking_uri,
        "parent_run_id": parent_run_id,
    }


def _preflight(config: PipelineConfig) -> None:
    """Fail in a second, not after the data stages, on a base model that cannot load."""
    from components.modeling import resolve_base_model

    resolve_base_model(config.train.base_model)
    resolve_base_model(config.baseline.encoder)


def _open_parent_run(config: PipelineConfig, config_path: Path | None) -> tuple[str, str]:
    _preflight(config)
    uri = setup_tracking(None, config.registry.experiment)
    params = {
        "config.path": str(config_path) if config_path else "",
        "base_model": config.train.base_model,
        "data.rev": config.data.rev or "workspace",
    }
    run_id = start_parent_run(config.model_dump(mode="json"), params, run_name=config.name)
    return uri, run_id


def run_local(config: PipelineConfig, config_path: Path | None = None, show=print) -> RunResult:
    """Run every stage as a local subprocess in this environment; returns the bento tag.

    ``show`` gets a line per finished task; KFP's own (long) output goes to a log file.
    """
    import kfp.local

    from workflows.pipeline import build_pipeline

    uri, run_id = _open_parent_run(config, config_path)
    PIPELINE_ROOT.mkdir(parents=True, exist_ok=True)
    log_path = PIPELINE_ROOT / f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    show(f"running pipeline '{config.name}' (full log: {log_path})")
    kfp.local.init(
        runner=kfp.local.SubprocessRunner(use_venv=False),
        pipeline_root=str(PIPELINE_ROOT.resolve()),
        raise_on_error=True,
    )
    error_file = Path(tempfile.mkstemp(prefix="modpipe-error-")[1])
    os.environ[ERROR_FILE_ENV] = str(error_file)
    started = time.perf_counter()
    log = PipelineLog(log_path, show)
    try:
        with contextlib.redirect_stdout(log):
            task = build_pipeline(config)(**_arguments(config, uri, run_id))
    except RuntimeError as err:
        end_parent_run(succeeded=False)
        cause = error_file.read_text(encoding="utf-8").strip()
        raise ModpipeError(
            (f"the pipeline failed in {cause}" if cause else f"the pipeline failed: {_plain(err)}")
            + f" (full log: {log_path})"
        ) from None
    finally:
        log.close()
        os.environ.pop(ERROR_FILE_ENV, None)
        error_file.unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    import mlflow

    mlflow.log_metric("pipeline.wall_seconds", seconds)
    end_parent_run(succeeded=True)
    return RunResult(run_id, uri, bento_tag=task.output, seconds=seconds)


def run_on_cluster(config: PipelineConfig, host: str, config_path: Path | None = None) -> RunResult:
    """Submit the same pipeline to Kubeflow Pipelines at ``host``; returns the run's URL."""
    import kfp

    from workflows.pipeline import build_pipeline

    if not tracking_uri().startswith(("http://", "https://", "databricks")):
        raise ModpipeError(
            f"cluster pods cannot reach the local MLflow store {tracking_uri()}: set "
            "MLFLOW_TRACKING_URI to a tracking server they can reach"
        )
    uri, run_id = _open_parent_run(config, config_path)
    try:
        client = kfp.Client(host=host)
        run = client.create_run_from_pipeline_func(
            build_pipeline(config),
            arguments=_arguments(config, uri, run_id),
            experiment_name=config.registry.experiment,
            run_name=config.name,
        )
    except Exception as err:  # kfp raises many kinds: connection, auth, API errors
        end_parent_run(succeeded=False)
        raise ModpipeError(f"cannot submit to Kubeflow Pipelines at {host}: {err}") from None
    end_parent_run(succeeded=True)  # the cluster's stages add their nested runs later
    return RunResult(run_id, uri, url=f"{host.rstrip('/')}/#/runs/details/{run.run_id}")


def compile_pipeline(config: PipelineConfig, output: Path) -> Path:
    """Write KFP IR YAML with this config as the default of ``config_json``."""
    from kfp import compiler

    from workflows.pipeline import build_pipeline

    output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(
        build_pipeline(config),
        package_path=str(output),
        pipeline_parameters={"config_json": json.dumps(config.model_dump(mode="json"))},
    )
    return output
