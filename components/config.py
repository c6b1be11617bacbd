"""One typed config for a pipeline run, loaded from a preset in ``configs/``.

Every section forbids unknown keys, so a typo in a YAML file fails with the key's name.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from components.canonical import load_yaml_model, validate_model
from components.errors import ModpipeError
from components.register import GateConfig
from components.train import TrainConfig
from components.validate import ValidationSettings


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(Section):
    directory: Path = Path("data")  # a canonical dataset folder, DVC-tracked in the workspace
    rev: str | None = None  # a git rev: load the dataset as DVC recorded it at that revision
    max_rows: int | None = Field(default=None, gt=0)  # a deterministic sample, for fast presets
    validation: ValidationSettings = ValidationSettings()


class SplitConfig(Section):
    validation_fraction: float = Field(default=0.1, gt=0, lt=0.5)
    test_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    seed: int = 13
    # Null-model check: train on labels permuted across rows (test labels stay true). Such a
    # model must never pass the gate.
    permute_train_labels: bool = False


class EvaluateConfig(Section):
    target_precision: float = Field(default=0.8, gt=0, le=1)  # thresholds are chosen to reach it
    per_category_precision: dict[str, float] = {}  # overrides, by category
    batch_size: int = Field(default=128, gt=0)


class BaselineConfig(Section):
    encoder: str = "all-MiniLM-L6-v2"
    shots: int = Field(default=8, ge=0)  # labelled examples per category; 0 = zero-shot


class RegistryConfig(Section):
    experiment: str = "moderation-pipeline"
    model_name: str = "moderation-classifier"


class ResourcesConfig(Section):
    """What the training task asks of a Kubeflow cluster; ignored by the local runner."""

    gpus: int = Field(default=1, ge=0)
    gpu_type: str = "nvidia.com/gpu"
    memory: str = "16G"
    cpu: str = "4"


class PipelineConfig(Section):
    name: str = Field(default="moderation", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    # Training checkpoints (by run name), so an interrupted run resumes; on a cluster, point
    # this at a mounted volume.
    checkpoints: Path = Path("runs/checkpoints")
    data: DataConfig = DataConfig()
    split: SplitConfig = SplitConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    baseline: BaselineConfig = BaselineConfig()
    gate: GateConfig = GateConfig()
    registry: RegistryConfig = RegistryConfig()
    resources: ResourcesConfig = ResourcesConfig()

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> PipelineConfig:
        if self.split.validation_fraction + self.split.test_fraction >= 0.8:
            raise ValueError("split: validation_fraction + test_fraction must leave >= 20% to train")
        return self


def parse_config(raw: dict, origin: str = "config") -> PipelineConfig:
    return validate_model(raw or {}, PipelineConfig, f"{origin}: invalid config")


def load_config(path: Path) -> PipelineConfig:
    if not Path(path).is_file():
        raise ModpipeError(f"{path}: no such config file (presets are in configs/)")
    return load_yaml_model(path, PipelineConfig)
