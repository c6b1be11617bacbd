"""What the importers of crowd-annotated public datasets share: the categories several sources
define alike (one definition each, so that a mixture can merge them), and the reading of
annotators' shares as labels.

Where several annotators judged a text, its label is their majority (a share of 0.5 or more is
a 1, so a tie is a 1), ``soft_labels`` holds the shares and ``agreement`` how much they agree.
The format modules (toxic_spans, convabuse, single_label) build on this one; importers.py
dispatches to them, and none of them imports it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from components.data.canonical import SHARE_DECIMALS, Category
from components.errors import ModpipeError

MAJORITY = 0.5  # a share of annotators this high is a majority: a tie is a 1

# The Jigsaw / Perspective definitions, which Civil Comments (Toxic Spans' source) used too;
# shared so that a mixture can merge these categories across sources.
TOXIC = Category(
    name="toxic",
    description="Rude, disrespectful or unreasonable content that is likely to make people "
    "leave a discussion.",
    severity="medium",
)
INSULT = Category(
    name="insult",
    description="Insulting, inflammatory or demeaning remarks about a person or a group of people.",
    severity="medium",
)
THREAT = Category(
    name="threat",
    description="Content that states an intention to hurt, injure or kill a person or a "
    "group of people.",
    severity="high",
)
IDENTITY_ATTACK = Category(
    name="identity_attack",
    description="An attack on people for who they are: demeaning, hateful or stereotyping "
    "remarks about a person or a group because of their race, ethnicity, religion, gender, "
    "gender identity, sexual orientation or disability.",
    severity="high",
)
PROFANITY = Category(
    name="profanity",
    description="Profane or obscene language: swearing, cursing, crude or sexually vulgar words.",
    severity="low",
)


def dataset_folder(path: Path, files: tuple[str, ...]) -> Path:
    path = Path(path)
    if not path.is_dir():
        problem = "is a file" if path.exists() else "no such folder"
        raise ModpipeError(f"{path}: {problem}; expected a folder with {', '.join(files)}")
    return path


def majority_labels(decided: pd.DataFrame) -> dict[str, list[int | None]]:
    """Per column, 1 where the share is a majority, 0 where not, None where there is none."""
    return {
        name: [None if np.isnan(share) else int(share >= MAJORITY) for share in decided[name]]
        for name in decided.columns
    }


def soft_labels(shares: pd.DataFrame) -> list[dict[str, float] | None]:
    rounded = shares.round(SHARE_DECIMALS).to_dict(orient="records")
    return [{k: v for k, v in row.items() if not np.isnan(v)} or None for row in rounded]


def agreement(shares: pd.DataFrame) -> list[float | None]:
    """The share on the majority side, averaged over the columns that have one."""
    majority_side = np.maximum(shares, 1 - shares).mean(axis=1).round(SHARE_DECIMALS)
    return [None if np.isnan(value) else float(value) for value in majority_side]


def oddities_note(oddities: dict[str, int]) -> str:
    """A sentence for a card: the oddities found in this copy of the data, and how many."""
    found = [f"{what}: {count:,}" for what, count in oddities.items() if count]
    return f" In this copy, {'; '.join(found)}." if found else ""
