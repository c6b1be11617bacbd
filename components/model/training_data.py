"""What fine-tuning reads: canonical frames (a dataset folder or a rows JSONL file) as texts
with targets, a mask of the known labels and row weights (soft labels, agreement); the train
split with its synthetic rows added; and the up-weighting of rare positives.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from components.config import AugmentConfig
from components.data.augment import augment_training, augmentation_counts
from components.data.canonical import (
    Taxonomy,
    frame_from_records,
    label_column,
    read_dataset,
    read_jsonl,
)
from components.errors import ModpipeError
from components.model.behaviour import build_suite, suite_training_rows
from components.model.within import Within, lift_targets


def read_frame(path: Path) -> pd.DataFrame:
    """A canonical frame from a dataset folder or a canonical rows JSONL file."""
    path = Path(path)
    if path.is_dir():
        return read_dataset(path)[1]
    records = read_jsonl(path)
    if not records:
        raise ModpipeError(f"{path}: no rows")
    return frame_from_records(records)


@dataclass
class LabelledTexts:
    texts: list[str]
    targets: np.ndarray  # [n, k] float32, 0 where unknown; a share of annotators with soft labels
    known: np.ndarray  # [n, k] float32, 1 where the label is known
    weights: np.ndarray  # [n] float32: each row's weight in the loss

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        taxonomy: Taxonomy,
        split: str,
        soft_labels: str = "off",
        source_weights: dict[str, float] | None = None,
        within: Within | None = None,
    ) -> "LabelledTexts":
        """``soft_labels`` (TrainConfig): "soft" takes a row's annotator shares as its targets,
        "agreement" weights it by its agreement; rows without them keep their labels, weight 1.
        ``source_weights`` multiplies the weights of each named source's rows. ``within``: each
        narrower positive is a broader positive too (components.model.within)."""
        if "text" not in frame.columns or frame.empty:
            raise ModpipeError(f"{split}: expected rows with a 'text' column")
        columns = [label_column(name) for name in taxonomy.names]
        odd_labels = ModpipeError(f"{split}: labels must be 0, 1 or null; validate the data first")
        # A category without a column is unknown everywhere, as in read_dataset.
        try:
            labels = frame.reindex(columns=columns).astype("Float64")
        except (TypeError, ValueError):
            raise odd_labels from None
        if (labels.notna() & ~labels.isin([0, 1])).any().any():
            raise odd_labels
        known = labels.notna().to_numpy(dtype=np.float32)
        targets = labels.fillna(0).to_numpy(dtype=np.float32)
        if soft_labels == "soft" and "soft_labels" in frame:
            targets = np.where(known == 1, _annotator_shares(frame, taxonomy, targets), 0.0)
        weights = np.ones(len(frame), dtype=np.float32)
        if soft_labels == "agreement" and "agreement" in frame:
            agreement = pd.to_numeric(frame["agreement"], errors="coerce")
            weights = agreement.fillna(1.0).to_numpy(dtype=np.float32)
        if source_weights:
            weights = weights * _source_weights(frame, split, source_weights)
        if within:
            targets, known = lift_targets(targets, known, within, taxonomy.names)
        return cls(
            texts=frame["text"].fillna("").astype(str).tolist(),
            targets=targets.astype(np.float32),
            known=known,
            weights=weights,
        )


def _source_weights(frame: pd.DataFrame, split: str, by_source: dict[str, float]) -> np.ndarray:
    """[n]: each row's weight by its source, 1 for sources not named; a name the split has no
    rows of is refused (a typo would otherwise weigh nothing)."""
    sources = frame["source"] if "source" in frame else pd.Series("", index=frame.index)
    missing = sorted(set(by_source) - set(sources))
    if missing:
        raise ModpipeError(
            f"{split}: source_weights names sources without rows: {', '.join(missing)} "
            f"(the split has: {', '.join(sorted(sources.dropna().unique()))})"
        )
    return sources.map(by_source).fillna(1.0).to_numpy(dtype=np.float32)


def _annotator_shares(frame: pd.DataFrame, taxonomy: Taxonomy, labels: np.ndarray) -> np.ndarray:
    """[n, k]: each row's share of annotators per category where it has one, else its label."""
    shares = labels.copy()
    for row, soft in enumerate(frame["soft_labels"]):
        if isinstance(soft, dict):
            for column, name in enumerate(taxonomy.names):
                if soft.get(name) is not None:
                    shares[row, column] = soft[name]
    return shares


def with_augmentation(
    train: pd.DataFrame, taxonomy: Taxonomy, config: AugmentConfig
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The train split with the configured synthetic rows added, and their count by kind."""
    extra = [augment_training(train, taxonomy.names, config)]
    if config.behaviour_suite:
        suite = build_suite(taxonomy.names, config.seed)
        extra.append(suite_training_rows(suite, taxonomy.names))
    added = pd.concat(extra, ignore_index=True)
    if added.empty:
        return train, {}
    return pd.concat([train, added], ignore_index=True), augmentation_counts(added)


def positive_weights(data: LabelledTexts, cap: float) -> np.ndarray:
    """negatives / positives per category among known labels, in [1, cap]; 1 with no positives."""
    positives = (data.targets * data.known).sum(axis=0)
    negatives = data.known.sum(axis=0) - positives
    ratios = np.divide(negatives, positives, out=np.ones_like(positives), where=positives > 0)
    return np.clip(ratios, 1.0, cap).astype(np.float32)
