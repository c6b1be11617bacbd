"""Split: a deterministic, stratified train/validation/test split of the loaded dataset."""

from pathlib import Path

import mlflow

from components.config import PipelineConfig
from components.data.canonical import SPLITS, read_dataset, write_dataset
from components.data.split import permute_training_labels, split_dataset


def split_stage(config: PipelineConfig, dataset_dir: Path, output_dir: Path) -> dict[str, int]:
    """Split the dataset folder into ``output_dir`` (same form, plus ``split``, with the rows'
    images); row counts."""
    settings = config.split
    card, frame = read_dataset(dataset_dir)
    split = split_dataset(
        frame, settings.validation_fraction, settings.test_fraction, settings.seed
    )
    if settings.permute_train_labels:
        split = permute_training_labels(split, settings.seed)
    write_dataset(output_dir, card, split, images_from=dataset_dir)
    counts = {name: int((split["split"] == name).sum()) for name in SPLITS}
    mlflow.log_params({f"split.{key}": value for key, value in settings.model_dump().items()})
    mlflow.log_metrics({f"rows.{name}": count for name, count in counts.items()})
    return counts
