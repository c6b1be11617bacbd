"""A labelled batch comes back: its labels become the bandit's rewards for the pending round.

The labelled batch is the batch file (CSV or JSON lines) with its ``label_<category>`` columns
filled in (1, 0, or empty for not judged), or a canonical dataset folder holding the batch's
ids. Only ``id`` and the label columns are read; rows whose ids are not in the batch are
ignored (a dataset may hold more than the batch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from components.data.canonical import (
    frame_from_records,
    is_missing,
    label_column,
    read_dataset,
    read_jsonl,
)
from components.errors import ModpipeError
from components.mining.bandit import BanditState, update
from components.mining.rewards import round_rewards


def _read_frame(path: Path) -> pd.DataFrame:
    if path.is_dir():
        return read_dataset(path)[1]
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return frame_from_records(read_jsonl(path))  # canonical rows ("labels": {...}) or flat
    if suffix != ".csv":
        raise ModpipeError(f"{path}: a labelled batch is .csv, .jsonl or a dataset folder")
    if not path.is_file():
        raise ModpipeError(f"{path}: no such file")
    try:
        return pd.read_csv(path, dtype={"id": str}, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ModpipeError(f"{path}: not a readable CSV ({err})") from None


def _as_label(value, path: Path, item: str, column: str) -> float:
    """1.0, 0.0, or nan where the label is left empty."""
    if is_missing(value) or value == "":
        return np.nan
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number not in (0.0, 1.0):
        raise ModpipeError(f"{path}: item {item}: {column} is {value!r}, expected 1, 0 or empty")
    return number


def read_revealed(path: Path, categories: list[str]) -> dict[str, dict[str, float]]:
    """Each item's revealed labels by id (nan = not judged)."""
    path = Path(path)
    frame = _read_frame(path)
    present = [name for name in categories if label_column(name) in frame.columns]
    if "id" not in frame.columns or not present:
        wanted = ", ".join(label_column(name) for name in categories)
        raise ModpipeError(f"{path}: a labelled batch needs an id column and some of {wanted}")
    return {
        str(row["id"]): {
            name: _as_label(row[label_column(name)], path, row["id"], label_column(name))
            for name in present
        }
        for row in frame.to_dict(orient="records")
    }


def record_labels(state: BanditState, path: Path) -> tuple[BanditState, dict[str, int]]:
    """The state after rewarding its pending round from the labelled batch in ``path``, and
    how many labelled picks each strategy had."""
    pending = state.pending
    if pending is None:
        raise ModpipeError("no round is waiting for labels: mine a batch first")
    revealed = read_revealed(path, state.categories)
    if not {pick.id for pick in pending.picks} & set(revealed):
        raise ModpipeError(f"{path}: none of its ids is in round {pending.number}'s batch")
    counts, rewards = round_rewards(pending.picks, revealed, state.reward)
    if not counts:
        raise ModpipeError(
            f"{path}: none of round {pending.number}'s items has a label filled in yet"
        )
    return update(state, counts, rewards), counts
