"""``modpipe recall``: the recall pipeline's stages in one process, or the KFP pipeline.

In one process (the default) the model loads once and the shards are scanned in turn (each
bounded in memory), with a progress bar. ``--kfp`` runs the KFP recall pipeline
(workflows/recall_pipeline.py) on this machine instead, a task per shard, as a cluster runs
it with a pod per shard. Both leave the same queue folder and MLflow figures.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow

from components.config import PipelineConfig
from components.model.modeling import ModerationModel
from components.registry.scoring import model_folder
from components.registry.tracking import create_parent_run, end_parent_run, setup_tracking
from components.stages.recall import REPORT_FILE, prepare_stage, queue_stage, scan_stage

CHAMPION = "models:/{name}@champion"


@dataclass(frozen=True)
class RecallResult:
    queue: Path
    report: Path
    metrics: dict
    run_id: str
    seconds: float


def run_recall(
    config: PipelineConfig,
    pool: Path,
    budget: int,
    output: Path,
    model: str | None = None,
    index_dir: Path | None = None,
    show=print,
) -> RecallResult:
    """Scan ``pool`` with ``model`` (default: the registry's champion) into a queue of
    ``budget`` items in ``output``; nothing is written there unless the whole queue is."""
    started = time.perf_counter()
    reference = model or CHAMPION.format(name=config.registry.model_name)
    setup_tracking(None, config.registry.experiment)
    with (
        tempfile.TemporaryDirectory(prefix="modpipe-recall-") as work,
        mlflow.start_run(run_name=f"recall-{Path(pool).stem}") as run,
    ):
        work = Path(work)
        names = prepare_stage(config, Path(pool), budget, work / "shards")
        folder = model_folder(reference, work / "model")
        mlflow.log_params({"model": reference, "budget": budget})
        loaded = ModerationModel.load(folder)
        show(f"scanning {len(names)} shard(s) with {reference} ({loaded.encoder_id})")
        scanned = []
        for number, name in enumerate(names):
            target = work / "scanned" / f"{number:05d}"
            scan_stage(config, folder, work / "shards" / name, target, index_dir, True, loaded)
            scanned.append(target)
        metrics = queue_stage(config, folder, scanned, budget, Path(output), index_dir)
    return RecallResult(
        Path(output),
        Path(output) / REPORT_FILE,
        metrics,
        run.info.run_id,
        time.perf_counter() - started,
    )


def _local_paths(config: PipelineConfig) -> PipelineConfig:
    """The term lists' path made absolute: every task runs in a folder of its own."""
    terms = config.recall.terms
    recall = config.recall.model_copy(update={"terms": terms.resolve() if terms else None})
    return config.model_copy(update={"recall": recall})


def run_recall_pipeline(
    config: PipelineConfig,
    pool: Path,
    budget: int,
    output: Path,
    model: str | None = None,
    show=print,
) -> RecallResult:
    """The KFP recall pipeline on this machine, under a parent MLflow run; the queue is copied
    to ``output`` once the pipeline has finished."""
    from workflows.recall_pipeline import build_recall_pipeline
    from workflows.runner import closed_on_failure, init_local_runner, run_pipeline_logged

    started = time.perf_counter()
    config = _local_paths(config)
    reference = model or CHAMPION.format(name=config.registry.model_name)
    if Path(reference).is_dir():
        reference = str(Path(reference).resolve())
    pipeline = build_recall_pipeline(config)
    uri = setup_tracking(None, config.registry.experiment)
    params = {"pool": str(pool), "budget": budget, "model": reference}
    name = f"recall-{Path(pool).stem}"
    run_id = create_parent_run(
        config.registry.experiment, config.model_dump(mode="json"), params, run_name=name
    )
    arguments = {
        "pool": str(Path(pool).resolve()),
        "budget": budget,
        "model": reference,
        "config_json": config.model_dump_json(),
        "tracking_uri": uri,
        "parent_run_id": run_id,
    }
    with closed_on_failure(run_id):
        log_path = init_local_runner(name, show)
        queue = Path(run_pipeline_logged(pipeline, arguments, log_path, show).output.path)
        staging = Path(output).with_name(f".{Path(output).name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(queue, staging)
        shutil.rmtree(output, ignore_errors=True)
        staging.rename(output)
    end_parent_run(run_id, succeeded=True)
    metrics = (
        mlflow.MlflowClient()
        .search_runs(
            [mlflow.get_experiment_by_name(config.registry.experiment).experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{run_id}' and tags.mlflow.runName = 'queue'",
        )[0]
        .data.metrics
    )
    return RecallResult(
        Path(output), Path(output) / REPORT_FILE, metrics, run_id, time.perf_counter() - started
    )
