"""Run the pipeline: locally through KFP's SubprocessRunner, or on a Kubeflow Pipelines cluster.

Locally the CLI opens the MLflow parent run first (so a bad base model fails in a second) and
the pipeline adopts it; on a cluster the pipeline opens its own. Its exit handler closes it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.config import PipelineConfig, ui_parameters
from components.errors import ModpipeError
from components.ops.support import ERROR_FILE_ENV
from components.registry.tracking import create_parent_run, end_parent_run, setup_tracking
from components.stages.package import SERVED_TAG
from components.stages.run import check_tracking_uri
from components.storage import absolute

PIPELINE_ROOT = Path("runs") / "kfp"


@dataclass(frozen=True)
class RunResult:
    parent_run_id: str
    tracking_uri: str
    bento_tag: str | None = None  # the bento served after the run: the champion's
    bento_uri: str | None = None  # where it was exported
    promoted: bool = False
    model_version: str | None = None
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


def _absolute_data_paths(config: PipelineConfig) -> PipelineConfig:
    """The mixture's workspace folders and taxonomy file as absolute paths."""
    data = config.data
    sources = [
        s if s.repo or data.repo else s.model_copy(update={"directory": s.directory.resolve()})
        for s in data.sources
    ]
    taxonomy = data.taxonomy.resolve() if data.taxonomy else None
    data = data.model_copy(update={"sources": sources, "taxonomy": taxonomy})
    return config.model_copy(update={"data": data})


def local_arguments(config: PipelineConfig, tracking_uri: str, parent_run_id: str = "") -> dict:
    """The pipeline's arguments for a run on this machine: local paths made absolute, since
    every step runs in a working directory of its own."""
    config = _absolute_data_paths(config)
    values = ui_parameters(config)
    if not (config.data.repo or config.data.sources):
        values["dataset_path"] = str(Path(config.data.directory).resolve())
    values["checkpoints"] = absolute(config.checkpoints)
    values["bento_store"] = absolute(config.registry.bento_store)
    return {
        "config_json": config.model_dump_json(),
        "tracking_uri": tracking_uri,
        "parent_run_id": parent_run_id,
        **values,
    }


def _preflight(config: PipelineConfig) -> None:
    """Fail in a second, not after the data stages, on a base model that cannot load or a
    mixture whose sources do not fit together."""
    from components.data.source import check_mixture
    from components.model.base_model import resolve_base_model

    resolve_base_model(config.train.base_model)
    resolve_base_model(config.baseline.encoder)
    check_mixture(config.data)


def _open_parent_run(config: PipelineConfig, config_path: Path | None) -> tuple[str, str]:
    _preflight(config)
    uri = setup_tracking(None, config.registry.experiment)
    params = {
        "config.path": str(config_path) if config_path else "",
        "base_model": config.train.base_model,
        "data.rev": config.data.rev or "workspace",
    }
    run_id = create_parent_run(
        config.registry.experiment, config.model_dump(mode="json"), params, run_name=config.name
    )
    return uri, run_id


@contextlib.contextmanager
def closed_on_failure(run_id: str) -> Iterator[None]:
    """The exit handler closes the run; when the runner stops before it could (a failed step
    stops it at once, or Ctrl-C, or a crash), close it here: KILLED or FAILED, never left
    RUNNING or marked FINISHED."""
    from mlflow import MlflowClient

    try:
        yield
    except BaseException as err:
        if MlflowClient().get_run(run_id).info.status == "RUNNING":
            interrupted = isinstance(err, KeyboardInterrupt)
            cause = "interrupted" if interrupted else str(err) or type(err).__name__
            end_parent_run(run_id, succeeded=False, error=cause, interrupted=interrupted)
        raise


def _outcome(run_id: str, uri: str, seconds: float) -> RunResult:
    from mlflow import MlflowClient

    client = MlflowClient()
    client.log_metric(run_id, "pipeline.wall_seconds", seconds)
    tags = client.get_run(run_id).data.tags
    return RunResult(
        run_id,
        uri,
        bento_tag=tags.get(SERVED_TAG),
        bento_uri=tags.get(f"{SERVED_TAG}.uri"),
        promoted=tags.get("gate.passed") == "true",
        model_version=tags.get("model.version"),
        seconds=seconds,
    )


def init_local_runner(name: str, show) -> Path:
    """KFP's local runner, every step a subprocess in this environment; the log file's path."""
    import kfp.local

    PIPELINE_ROOT.mkdir(parents=True, exist_ok=True)
    log_path = PIPELINE_ROOT / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    show(f"running pipeline '{name}' (full log: {log_path})")
    kfp.local.init(
        runner=kfp.local.SubprocessRunner(use_venv=False),
        pipeline_root=str(PIPELINE_ROOT.resolve()),
        raise_on_error=True,
    )
    return log_path


def run_local(config: PipelineConfig, config_path: Path | None = None, show=print) -> RunResult:
    """Run every stage as a local subprocess in this environment.

    ``show`` gets a line per finished task; KFP's own (long) output goes to a log file.
    """
    from workflows.pipeline import build_pipeline

    pipeline = build_pipeline(config)  # KFP's own checks, before there is a run to fail
    uri, run_id = _open_parent_run(config, config_path)
    with closed_on_failure(run_id):
        log_path = init_local_runner(config.name, show)
        started = time.perf_counter()
        run_pipeline_logged(pipeline, local_arguments(config, uri, run_id), log_path, show)
        return _outcome(run_id, uri, time.perf_counter() - started)


@contextlib.contextmanager
def _steps_temporary_folder() -> Iterator[None]:
    """Steps' temporary files in one folder, removed after the run: KFP writes each step's code
    into a folder of its own under TMPDIR and never removes it."""
    before = os.environ.get("TMPDIR")
    with tempfile.TemporaryDirectory(prefix="modpipe-steps-") as folder:
        os.environ["TMPDIR"] = folder
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("TMPDIR")
            else:
                os.environ["TMPDIR"] = before


def run_pipeline_logged(pipeline, arguments: dict, log_path: Path, show):
    """Run it, KFP's output in the log; a failed step is a ModpipeError with the step's own
    one-line cause where it wrote one. Returns the pipeline's output task."""
    error_file = Path(tempfile.mkstemp(prefix="modpipe-error-")[1])
    os.environ[ERROR_FILE_ENV] = str(error_file)
    log = PipelineLog(log_path, show)
    try:
        with (
            contextlib.redirect_stdout(log),
            warnings.catch_warnings(),
            _steps_temporary_folder(),
        ):
            # The local runner warns about every cluster-only setting (display names, images).
            warnings.filterwarnings("ignore", module="kfp")
            return pipeline(**arguments)
    except RuntimeError as err:
        cause = error_file.read_text(encoding="utf-8").strip()
        raise ModpipeError(
            (f"the pipeline failed in {cause}" if cause else f"the pipeline failed: {_plain(err)}")
            + f" (full log: {log_path})"
        ) from None
    finally:
        log.close()
        os.environ.pop(ERROR_FILE_ENV, None)
        error_file.unlink(missing_ok=True)


def cluster_tracking_uri(tracking_uri: str | None) -> str:
    """The tracking server the cluster's pods log to: refused when it is a local store."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    check_tracking_uri(uri, submitting=True)
    return uri


def run_on_cluster(
    config: PipelineConfig,
    host: str,
    tracking_uri: str | None = None,
    image: str | None = None,
    pipeline_root: str | None = None,
) -> RunResult:
    """Submit the compiled pipeline to Kubeflow Pipelines at ``host``; the pipeline opens (and
    its exit handler closes) its own MLflow run. Returns the KFP run's URL."""
    import kfp

    uri = cluster_tracking_uri(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="modpipe-compile-") as work:
        package = Path(work) / "pipeline.yaml"
        compile_pipeline(config, package, image, pipeline_root, tracking_uri=uri)
        try:
            client = kfp.Client(host=host)
            run = client.create_run_from_pipeline_package(
                str(package),
                experiment_name=config.registry.experiment,
                run_name=config.name,
            )
        except Exception as err:  # kfp raises many kinds: connection, auth, API errors
            raise ModpipeError(f"cannot submit to Kubeflow Pipelines at {host}: {err}") from None
    return RunResult("", uri, url=f"{host.rstrip('/')}/#/runs/details/{run.run_id}")


def _set_image(package: Path, image: str) -> None:
    """Every step of a compiled pipeline runs in ``image``."""
    documents = list(yaml.safe_load_all(package.read_text(encoding="utf-8")))
    for document in documents:
        executors = document.get("deploymentSpec", {}).get("executors", {})
        for executor in executors.values():
            executor["container"]["image"] = image
    package.write_text(yaml.safe_dump_all(documents, sort_keys=False), encoding="utf-8")


def _builders() -> dict:
    from workflows.pipeline import build_pipeline
    from workflows.recall_pipeline import build_recall_pipeline

    return {"training": build_pipeline, "recall": build_recall_pipeline}


PIPELINES = ("training", "recall")


def compile_pipeline(
    config: PipelineConfig,
    output: Path,
    image: str | None = None,
    pipeline_root: str | None = None,
    tracking_uri: str | None = None,
    pipeline: str = "training",
) -> Path:
    """Write KFP IR YAML whose parameters default to this preset's values."""
    from kfp import compiler

    output.parent.mkdir(parents=True, exist_ok=True)
    parameters = {"tracking_uri": cluster_tracking_uri(tracking_uri)} if tracking_uri else {}
    compiler.Compiler().compile(
        _builders()[pipeline](config, pipeline_root),
        package_path=str(output),
        pipeline_parameters=parameters,
    )
    if image:
        _set_image(output, image)
    return output
