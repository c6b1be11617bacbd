"""Shared fixtures: paths to the real third-party data (read in place, never copied)."""

from pathlib import Path

import pytest

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
