"""What goes out to annotators, people or an LLM: the batch of items and the policy version it
is judged against."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from components.data.canonical import DatasetCard, Taxonomy, read_dataset
from components.recall.pool import check_pool, read_pool


def read_batch(batch: Path) -> tuple[pd.DataFrame, DatasetCard | None]:
    """The items (ids unique, every text there) of a mined batch or pool file (JSONL, CSV or
    Parquet), or of a canonical dataset folder, with that dataset's card."""
    if not batch.is_dir():
        return read_pool(batch), None
    card, frame = read_dataset(batch)
    return check_pool(frame, str(batch)), card


def policy_version(taxonomy: Taxonomy) -> str:
    """A short hash of the categories' names and descriptions (the policy text judged against)."""
    policy = [[c.name, c.description] for c in taxonomy.categories]
    return "sha256:" + hashlib.sha256(json.dumps(policy).encode("utf-8")).hexdigest()[:12]
