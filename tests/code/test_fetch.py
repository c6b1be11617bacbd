"""`modpipe data fetch`: the catalogue's files from a mirror folder or over HTTP (a real server on
127.0.0.1 serving ../shared/data), every sha256 checked, imported and versioned with DVC."""

import sys
from pathlib import Path

import pytest
import yaml
from conftest import SHARED_DATA, require
from repos import make_dvc_repo
from servers import free_port, running
from test_cli import assert_clean_failure, modpipe

from components.data.canonical import read_dataset
from components.data.catalogue import DEFAULT_CATALOGUE, load_catalogue, sha256_of
from components.data.versioning import recorded_md5
from components.errors import ModpipeError

JIGSAW = "jigsaw-sample/train.csv"


@pytest.fixture(scope="module")
def http_mirror(tmp_path_factory):
    """../shared/data served by Python's own HTTP server, as a download site would be."""
    root = require(SHARED_DATA)
    port = free_port()
    log = tmp_path_factory.mktemp("mirror") / "http.log"
    command = [sys.executable, "-m", "http.server", str(port), "-b", "127.0.0.1", "-d", str(root)]
    with running(command, f"http://127.0.0.1:{port}/README.md", log, env=None, timeout=30):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A DVC repo as the current folder, with its own download cache."""
    repo = make_dvc_repo(tmp_path)
    monkeypatch.setenv("MODPIPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MODPIPE_DATA_MIRROR", raising=False)
    return repo


def test_the_catalogue_lists_every_dataset_with_its_facts():
    catalogue = load_catalogue()
    assert list(catalogue.datasets) == [
        "davidson",
        "jigsaw-sample",
        "toxic-spans",
        "convabuse",
        "sms-spam",
        "bias-madlibs",
    ]
    assert catalogue.entry("bias-madlibs").role == "evaluation"
    listed = modpipe("data", "fetch", "--list")
    assert listed.returncode == 0 and all(name in listed.stdout for name in catalogue.datasets)


def test_every_catalogue_checksum_matches_the_shared_copy():
    require(SHARED_DATA)
    for entry in load_catalogue().datasets.values():
        for file in entry.files:
            assert sha256_of(SHARED_DATA / file.path) == file.sha256, file.path


def test_fetch_downloads_verifies_imports_and_versions(workspace, http_mirror, tmp_path):
    result = modpipe("data", "fetch", "jigsaw-sample", "--from", http_mirror, cwd=workspace)
    assert result.returncode == 0, result.stderr
    folder = workspace / "datasets" / "jigsaw-sample"
    card, frame = read_dataset(folder)
    entry = load_catalogue().entry("jigsaw-sample")
    assert (card.name, card.licence, card.citation) == (
        "jigsaw-sample",
        entry.licence,
        entry.citation,
    )
    assert card.urls == [entry.files[0].url] and len(frame) == 282
    assert recorded_md5(folder) and "DVC version" in result.stdout
    cached = tmp_path / "cache" / JIGSAW
    assert sha256_of(cached) == entry.files[0].sha256
    # The second fetch reads the cache: the download site may be gone.
    again = modpipe("data", "fetch", "jigsaw-sample", "--from", "http://127.0.0.1:9", cwd=workspace)
    assert again.returncode == 0, again.stderr


def test_a_mirror_folder_from_the_environment(workspace, monkeypatch):
    monkeypatch.setenv("MODPIPE_DATA_MIRROR", str(require(SHARED_DATA)))
    result = modpipe("data", "fetch", "jigsaw-sample", "-o", "sample", cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert len(read_dataset(workspace / "sample")[1]) == 282


def _mirror_with(tmp_path: Path, data: bytes | None) -> Path:
    mirror = tmp_path / "mirror"
    (mirror / "jigsaw-sample").mkdir(parents=True)
    if data is not None:
        (mirror / JIGSAW).write_bytes(data)
    return mirror


@pytest.mark.parametrize(
    "case, args, phrases",
    [
        ("unknown name", ["nope"], ["no dataset 'nope'", "davidson", "bias-madlibs"]),
        ("no name", [], ["name a dataset"]),
        ("checksum mismatch", ["jigsaw-sample"], [JIGSAW, "sha256", "nothing imported"]),
        ("file missing", ["jigsaw-sample"], ["has no", JIGSAW]),
        ("no such mirror", ["jigsaw-sample", "--from", "/nonexistent"], ["not a folder"]),
        ("unreachable", ["jigsaw-sample", "--from", "http://127.0.0.1:9"], ["cannot download"]),
    ],
)
def test_bad_fetches_fail_in_one_line_and_write_nothing(workspace, tmp_path, case, args, phrases):
    data = b"id,comment_text\n1,tampered\n" if case == "checksum mismatch" else None
    mirror = ["--from", str(_mirror_with(tmp_path, data))] if "--from" not in args else []
    result = modpipe("data", "fetch", *args, *(mirror if args else []), cwd=workspace)
    assert result.returncode == 2
    assert_clean_failure(result, *phrases)
    assert not (workspace / "datasets").exists()
    assert not list(tmp_path.rglob("*.part"))


def test_a_catalogue_entry_must_be_complete(tmp_path):
    raw = yaml.safe_load(DEFAULT_CATALOGUE.read_text())
    del raw["datasets"]["davidson"]["files"][0]["sha256"]
    broken = tmp_path / "catalogue.yaml"
    broken.write_text(yaml.safe_dump(raw))
    with pytest.raises(ModpipeError, match="davidson.files.0.sha256"):
        load_catalogue(broken)
