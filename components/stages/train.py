"""Fine-tune: train on the train split, early-stop on validation, one DDP process per GPU.

Checkpoints go to ``config.checkpoints`` / run name: a folder (a mounted volume on a cluster)
or object storage, mirrored from a local folder; a rerun of the same run, or a retried pod,
resumes from them.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow
import torch
import yaml

from components.config import PipelineConfig, TrainConfig
from components.data.canonical import DatasetCard, Taxonomy, read_dataset, write_dataset
from components.data.split import split_frames
from components.errors import ModpipeError
from components.model.checkpoints import BEST_WEIGHTS_FILE, CHECKPOINT_FILE
from components.model.soup import uniform_soup
from components.model.training import TrainResult, train_model
from components.storage import join, mirrored_folder

CHECKPOINTS = (CHECKPOINT_FILE, BEST_WEIGHTS_FILE)  # mirrored to and from the run's location


def _torchrun(
    parts: dict,
    taxonomy: Taxonomy,
    config: TrainConfig,
    processes: int,
    output_dir: Path,
    checkpoint_dir: Path,
) -> TrainResult:
    """Train with one DDP process per GPU, through torchrun and the training command line."""
    with tempfile.TemporaryDirectory(prefix="ddp-") as scratch:  # the splits, copied for it
        work = Path(scratch)
        card = DatasetCard(name="split", source="pipeline", categories=taxonomy.categories)
        for name in ("train", "validation"):
            write_dataset(work / name, card, parts[name])
        (work / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
        (work / "taxonomy.yaml").write_text(yaml.safe_dump(taxonomy.model_dump(mode="json")))
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={processes}",
            "-m",
            "components.model.train_command",
            "--train",
            str(work / "train"),
            "--validation",
            str(work / "validation"),
            "--taxonomy",
            str(work / "taxonomy.yaml"),
            "--config",
            str(work / "config.yaml"),
            "--output",
            str(output_dir),
            "--checkpoint-dir",
            str(checkpoint_dir),
            "--result",
            str(work / "result.json"),
        ]
        if subprocess.run(command).returncode != 0:
            raise ModpipeError(f"distributed training ({processes} processes) failed; see its log")
        return TrainResult.model_validate(json.loads((work / "result.json").read_text()))


def _train(config: PipelineConfig, parts: dict, card, output_dir: Path, checkpoints: Path):
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    processes = min(config.resources.gpus, gpus)
    if processes > 1:
        return _torchrun(parts, card, config.train, processes, output_dir, checkpoints)
    return train_model(
        parts["train"],
        parts["validation"],
        card,
        config.train,
        output_dir,
        checkpoints,
        progress=sys.stderr.isatty(),
    )


def _soup(config: PipelineConfig, parts: dict, card, output_dir: Path, location: str) -> list:
    """One model per seed of ``train.soup_seeds``, each checkpointed apart, and the mean of
    their weights in ``output_dir``; the members' results, in seed order."""
    results = []
    with tempfile.TemporaryDirectory(prefix="soup-") as members:
        for seed in range(config.train.seed, config.train.seed + config.train.soup_seeds):
            settings = config.train.model_copy(update={"seed": seed, "soup_seeds": 1})
            member = config.model_copy(update={"train": settings})
            with mirrored_folder(join(location, f"seed-{seed}"), CHECKPOINTS) as checkpoints:
                results.append(_train(member, parts, card, Path(members) / str(seed), checkpoints))
        uniform_soup([result.model_dir for result in results], output_dir)
    return results


def _log(result: TrainResult, prefix: str = "") -> None:
    for epoch in result.history:
        figures = {
            f"{prefix}{k}": float(v)
            for k, v in epoch.items()
            if k != "epoch" and isinstance(v, (int, float))
        }
        mlflow.log_metrics(figures, step=int(epoch.get("epoch", 0)))
    mlflow.log_metrics(
        {f"{prefix}best_epoch": result.best_epoch, f"{prefix}steps_run": result.steps_run}
    )
    if result.resumed_from:
        mlflow.set_tag(f"{prefix}resumed_from", str(result.resumed_from))


def train_stage(config: PipelineConfig, splits_dir: Path, output_dir: Path) -> TrainResult:
    """Fine-tune ``config.train.base_model`` on the splits; the best epoch's model, or the soup
    of one per seed, in ``output_dir``."""
    card, frame = read_dataset(splits_dir)
    parts = split_frames(frame)
    location = join(config.checkpoints, config.name)
    mlflow.log_params({f"train.{k}": v for k, v in config.train.model_dump().items()})
    if config.train.soup_seeds == 1:
        with mirrored_folder(location, CHECKPOINTS) as checkpoints:
            result = _train(config, parts, card, output_dir, checkpoints)
        _log(result)
    else:
        members = _soup(config, parts, card, output_dir, location)
        for seed, member in enumerate(members, start=config.train.seed):
            _log(member, prefix=f"seed_{seed}.")
        # The soup's own figures come from evaluation; the first member's epochs stand for its
        # training (each member's are logged above), its steps are all of theirs.
        result = members[0].model_copy(
            update={
                "model_dir": Path(output_dir),
                "steps_run": sum(member.steps_run for member in members),
            }
        )
    mlflow.log_metrics({f"augment.{kind}.rows": rows for kind, rows in result.augmented.items()})
    return result
