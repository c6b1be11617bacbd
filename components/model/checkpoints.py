"""Training checkpoints: the state an interrupted run resumes from, and whose run it is.

``checkpoint.pt`` holds model, optimizer, scheduler, :class:`Progress`, every process's RNG
states and the run's fingerprint (config, taxonomy, data and number of processes); a checkpoint
with another fingerprint is ignored, with a message. ``best_model.pt`` holds the best weights so
far. Both are written beside and renamed, so a crash mid-write leaves the previous one intact.
"""

import hashlib
import logging
import os
import pickle
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from components.config import TrainConfig
from components.data.canonical import Taxonomy

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
BEST_WEIGHTS_FILE = "best_model.pt"


@dataclass
class Progress:
    epoch: int = 0  # epochs finished
    step_in_epoch: int = 0  # batches finished in the current epoch
    global_step: int = 0
    best_score: float | None = None
    best_epoch: int | None = None
    epochs_without_improvement: int = 0
    stopped: bool = False
    history: list[dict] = field(default_factory=list)


def rng_state() -> dict:
    name, keys, *rest = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (
            name,
            keys.tolist(),
            *rest,
        ),  # plain lists load with torch.load(weights_only=True)
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def restore_rng(state: dict) -> None:
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_atomically(obj, path: Path) -> None:
    """Write beside, then rename: a crash mid-write leaves the previous file intact."""
    partial = path.with_suffix(path.suffix + ".partial")
    torch.save(obj, partial)
    os.replace(partial, path)


def run_fingerprint(
    config: TrainConfig, taxonomy: Taxonomy, datasets: list, world_size: int
) -> str:
    """What a checkpoint must match to be resumed: config, taxonomy, data (LabelledTexts) and
    process count."""
    digest = hashlib.sha256()
    settings = config.model_dump_json(exclude={"checkpoint_every_steps"})  # changes no result
    for part in (settings, taxonomy.model_dump_json(), str(world_size)):
        digest.update(part.encode())
    for data in datasets:
        digest.update("\x00".join(data.texts).encode())
        digest.update(data.targets.tobytes())
        digest.update(data.known.tobytes())
        digest.update(data.weights.tobytes())
    return digest.hexdigest()


class Checkpoints:
    def __init__(self, directory: Path | None, fingerprint: str):
        self.directory = Path(directory) if directory else None
        self.fingerprint = fingerprint

    def load(self) -> dict | None:
        """The saved state when it belongs to this run; None (with a message) otherwise."""
        path = self.directory / CHECKPOINT_FILE if self.directory else None
        if path is None or not path.is_file():
            return None
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
            log.warning("checkpoint %s is unreadable (%s); starting over", path, err)
            return None
        if saved.get("fingerprint") != self.fingerprint:
            log.warning(
                "checkpoint %s belongs to another run (config, taxonomy, data or process count "
                "differ); ignoring it and starting over",
                path,
            )
            return None
        return saved

    def save(self, state: dict) -> None:
        if self.directory:
            self.directory.mkdir(parents=True, exist_ok=True)
            _save_atomically(
                {**state, "fingerprint": self.fingerprint}, self.directory / CHECKPOINT_FILE
            )

    def save_best(self, weights: dict) -> None:
        if self.directory:
            self.directory.mkdir(parents=True, exist_ok=True)
            _save_atomically(weights, self.directory / BEST_WEIGHTS_FILE)

    def load_best(self) -> dict:
        return torch.load(self.directory / BEST_WEIGHTS_FILE, map_location="cpu", weights_only=True)
