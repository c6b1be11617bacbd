"""Split stage: a deterministic, stratified train/validation/test split.

Near-duplicate texts (the validation suite's normalised key) form one group, so copies of a text
never straddle two splits, and groups are stratified by their label combination, so rare
categories appear in every split; in a mixture, each source is stratified too. Rows that already
carry a ``split`` keep it.
"""

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from components.data.canonical import (
    SPLITS,
    label_columns,
    near_duplicate_key,
)
from components.errors import ModpipeError

RARE = "rare"


def _strata(frame: pd.DataFrame, min_count: int) -> pd.Series:
    """Each row's source and combination of known positive labels; rarer ones are merged."""
    columns = label_columns(frame)
    positives = frame[columns].fillna(0).astype(int).astype(str)
    combination = positives.apply("".join, axis=1) if columns else pd.Series("", index=frame.index)
    if "source" in frame:
        combination = frame["source"].astype(str) + ":" + combination
    counts = combination.map(combination.value_counts())
    return combination.where(counts >= min_count, RARE)


def _groups(frame: pd.DataFrame) -> np.ndarray:
    keys = near_duplicate_key(frame["text"].astype("string"))
    keys = keys.fillna(frame["id"].astype(str).radd("id:"))  # texts with no key are their own group
    return pd.factorize(keys)[0]


def _hold_out(frame: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.Index, pd.Index]:
    folds = max(2, round(1 / fraction))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    strata = _strata(frame, min_count=folds)
    keep, held = next(splitter.split(frame, strata, groups=_groups(frame)))
    return frame.index[keep], frame.index[held]


def split_dataset(
    frame: pd.DataFrame, validation_fraction: float, test_fraction: float, seed: int
) -> pd.DataFrame:
    """Return the frame with a ``split`` column: train, validation or test.

    Rows that already have a split keep it (a mixture's evaluation-only sources are test);
    the others are split.
    """
    if "split" not in frame:
        frame = frame.assign(split=None)
    preset = frame["split"].notna()
    unknown = sorted(set(frame.loc[preset, "split"]) - set(SPLITS))
    if unknown:
        raise ModpipeError(f"split column has values other than {SPLITS}: {unknown}")
    if preset.all():
        return frame
    pending = frame[~preset]
    minimum = round(2 / min(validation_fraction, test_fraction))
    if len(pending) < minimum:
        raise ModpipeError(f"{len(pending)} rows are too few to split (need at least {minimum})")
    rest, test = _hold_out(pending, test_fraction, seed)
    train, validation = _hold_out(
        pending.loc[rest], validation_fraction / (1 - test_fraction), seed + 1
    )
    result = frame.copy()
    result.loc[train, "split"] = "train"
    result.loc[validation, "split"] = "validation"
    result.loc[test, "split"] = "test"
    empty = [name for name in SPLITS if not (result["split"] == name).any()]
    if empty:
        raise ModpipeError(f"the {', '.join(empty)} split came out empty; use more rows")
    return result


def split_frames(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The three parts of a split frame, by name."""
    return {name: frame[frame["split"] == name].reset_index(drop=True) for name in SPLITS}


def permute_training_labels(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Shuffle whole label rows among the train and validation rows; test keeps its truth."""
    permuted = frame.copy()
    rows = permuted.index[permuted["split"] != "test"]
    order = np.random.default_rng(seed).permutation(len(rows))
    columns = label_columns(permuted)
    permuted.loc[rows, columns] = permuted.loc[rows, columns].iloc[order].to_numpy()
    return permuted
