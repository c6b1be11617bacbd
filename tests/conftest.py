"""Shared fixtures: paths to the real third-party data (read in place, never copied)."""

from pathlib import Path

import pandas as pd
import pytest

from components.canonical import Category, DatasetCard

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DAVIDSON_CSV = SHARED_DATA / "davidson" / "labeled_data.csv"
JIGSAW_CSV = SHARED_DATA / "jigsaw-sample" / "train.csv"


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (it lives in ../shared/data beside the repo)")
    return path


@pytest.fixture
def davidson_csv() -> Path:
    return require(DAVIDSON_CSV)


@pytest.fixture
def jigsaw_csv() -> Path:
    return require(JIGSAW_CSV)


def spam_dataset(texts: list[str]) -> tuple[DatasetCard, pd.DataFrame]:
    """A one-category canonical dataset, labels alternating 0/1, for data-layer tests."""
    card = DatasetCard(
        name="tiny", source="test", categories=[Category(name="spam", description="Ads.")]
    )
    labels = pd.array([i % 2 for i in range(len(texts))], dtype="Int8")
    ids = [f"r{i}" for i in range(len(texts))]
    return card, pd.DataFrame({"id": ids, "text": texts, "source": "test", "label_spam": labels})


@pytest.fixture
def make_dataset():
    return spam_dataset
