"""Dataset versions with the real DVC, in throwaway repos."""

import shutil
from pathlib import Path

import pytest
from repos import dvc, git, make_dvc_repo

from components.data.canonical import read_dataset, write_dataset
from components.data.versioning import (
    directory_md5,
    publish_dataset,
    pull_dataset,
    recorded_md5,
    restore_dataset,
)
from components.errors import ModpipeError

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dvc_repo(tmp_path):
    return make_dvc_repo(tmp_path)


def test_directory_md5_matches_dvc_add(dvc_repo, make_dataset):
    card, frame = make_dataset(["buy now", "hello there", "free money"])
    write_dataset(dvc_repo / "data", card, frame)
    dvc("add", "data", cwd=dvc_repo)
    assert recorded_md5(dvc_repo / "data") == directory_md5(dvc_repo / "data")


def test_publish_keeps_previous_version_in_dvc_cache(dvc_repo, make_dataset):
    first = publish_dataset(*make_dataset(["one", "two"]), dvc_repo / "data")
    second = publish_dataset(*make_dataset(["three", "four", "five"]), dvc_repo / "data")
    assert first.md5 and second.md5 and first.md5 != second.md5
    assert second.previous_md5 == first.md5
    assert recorded_md5(dvc_repo / "data") == second.md5


def test_restore_swaps_versions_back_and_forth_through_the_cache(dvc_repo, make_dataset):
    first = publish_dataset(*make_dataset(["one", "two"]), dvc_repo / "data")
    git("add", "-A", cwd=dvc_repo)
    git("commit", "-q", "-m", "first version", cwd=dvc_repo)
    second = publish_dataset(*make_dataset(["three", "four", "five"]), dvc_repo / "data")

    back = restore_dataset(dvc_repo / "data", first.md5.removesuffix(".dir"))
    assert (back.md5, back.previous_md5) == (first.md5, second.md5)
    assert list(read_dataset(dvc_repo / "data")[1]["text"]) == ["one", "two"]
    assert restore_dataset(dvc_repo / "data", back.previous_md5).md5 == second.md5
    assert recorded_md5(dvc_repo / "data") == directory_md5(dvc_repo / "data") == second.md5
    assert not [p for p in dvc_repo.iterdir() if p.name.startswith(".data.")]


def test_what_a_killed_run_left_is_never_taken_for_data(tmp_path, make_dataset):
    publish_dataset(*make_dataset(["current"]), tmp_path / "d")
    stale = make_dataset(["half", "written"])  # complete-looking, but staging is never data
    write_dataset(tmp_path / ".d.staging", *stale)
    write_dataset(tmp_path / ".d.swap-0123456789abcdef0123456789abcdef.dir", *stale)
    publish_dataset(*make_dataset(["next"]), tmp_path / "d")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "d.previous-1"]
    assert list(read_dataset(tmp_path / "d.previous-1")[1]["text"]) == ["current"]


def test_publish_outside_dvc_moves_old_dataset_aside(tmp_path, make_dataset):
    publish_dataset(*make_dataset(["one", "two"]), tmp_path / "d")
    publication = publish_dataset(*make_dataset(["three", "four"]), tmp_path / "d")
    assert publication.md5 is None
    assert publication.backup == tmp_path / "d.previous-1"
    assert list(read_dataset(publication.backup)[1]["text"]) == ["one", "two"]
    assert list(read_dataset(tmp_path / "d")[1]["text"]) == ["three", "four"]


def test_pull_rebuilds_missing_remote_data_then_pulls_it(dvc_repo, make_dataset):
    card, frame = make_dataset(["a", "b", "c"])
    publish_dataset(card, frame, dvc_repo / "data")
    expected = recorded_md5(dvc_repo / "data")
    shutil.rmtree(dvc_repo / "data")
    shutil.rmtree(dvc_repo / ".dvc" / "cache")

    message = pull_dataset(dvc_repo / "data", regenerate=lambda d: write_dataset(d, card, frame))
    assert "regenerated" in message
    assert directory_md5(dvc_repo / "data") == expected

    shutil.rmtree(dvc_repo / "data")
    shutil.rmtree(dvc_repo / ".dvc" / "cache")
    assert "pulled" in pull_dataset(dvc_repo / "data", regenerate=pytest.fail)
    assert directory_md5(dvc_repo / "data") == expected


def test_pull_refuses_data_it_cannot_rebuild(dvc_repo, make_dataset):
    publish_dataset(*make_dataset(["a", "b"]), dvc_repo / "data")
    dvc_before = (dvc_repo / "data.dvc").read_text()
    shutil.rmtree(dvc_repo / "data")
    shutil.rmtree(dvc_repo / ".dvc" / "cache")
    other = make_dataset(["something", "else"])
    with pytest.raises(ModpipeError, match="cannot be rebuilt"):
        pull_dataset(dvc_repo / "data", regenerate=lambda d: write_dataset(d, *other))
    assert (dvc_repo / "data.dvc").read_text() == dvc_before


def test_seed_corpus_matches_the_committed_data_dvc(tmp_path):
    """The md5 recorded in data.dvc is exactly what `modpipe data synth` regenerates."""
    from components.data.synth import write_synthetic_dataset

    write_synthetic_dataset(tmp_path / "data")
    assert directory_md5(tmp_path / "data") == recorded_md5(REPO_ROOT / "data")
