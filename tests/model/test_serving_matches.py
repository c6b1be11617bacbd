"""`/moderate`'s `matches`: known violations (an index packaged in the model's folder) flag a
re-upload of removed content even when the classifier scores it low.

The tiny model (tests/tiny_bento.py) gets an index of a few known violations, is stored as a
second BentoML model and served with the session's bento (MODPIPE_MODEL_TAG picks the model):
once with matches on, once with the defaults (off), and once with an index from another encoder,
which must stop the server. The match logic itself is checked in-process.
"""

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path
from types import SimpleNamespace

import bentoml
import httpx
import numpy as np
import pandas as pd
import pytest
from servers import free_port, stop, wait_for
from tiny_bento import METADATA, READY_TIMEOUT_S, TAXONOMY, settings_env

from components.errors import ModpipeError
from components.model.modeling import TINY_BASE_MODEL, ModerationModel, build_classifier
from components.model.neighbours import INDEX_DIR, Entry, Nearest, index_known_violations
from components.registry.bentos import save_bento_model, serve_command
from components.serving_config import ServingConfig
from serving.matches import Matcher, matches_past_cutoffs
from serving.settings import MODEL_SUBDIR, MODEL_TAG_ENV, SETTINGS_ENV_PREFIX

pytestmark = pytest.mark.slow

INSULT = "you are a worthless idiot and everyone knows it"
THREAT = "I will find where you live and hurt you"
SCAM = "send me your bank password to claim the prize " * 12  # many windows of 32 tokens
KEPT = "see you at the football match tomorrow"  # reviewed and kept: not a known violation
KNOWN = pd.DataFrame(
    {
        "id": ["removed-1", "removed-2", "removed-3", "kept-1"],
        "text": [INSULT, THREAT, SCAM, KEPT],
        "label_insult": [1, 0, 0, 0],
        "label_threat": [0, 1, 0, 0],
        "label_scam": [0, 0, 1, 0],
    }
)
# The tiny random encoder finds every two texts 0.75-0.93 similar; these are measured with it.
NEAR_INSULT = "You are a worthless idiot, and everyone knows it!"  # 0.976
NEAR_THREAT = "i will find where you live, and hurt you."  # 0.979: under threat's own cut-off
UNRELATED = "the weather in lisbon is lovely this time of year"  # at most 0.907
MATCHING = ServingConfig(
    workers=1, matches=True, match_similarity=0.95, match_similarity_by_category={"threat": 0.99}
)


def with_index(model_dir: Path, folder: Path, indexer: ModerationModel) -> Path:
    """A copy of the saved model with an index of KNOWN embedded by ``indexer``."""
    shutil.copytree(model_dir, folder)
    index_known_violations(indexer, KNOWN, folder / INDEX_DIR, max_items=100)
    return folder


@pytest.fixture(scope="module")
def indexed_tag(bento_tag, reference, model_dir, tmp_path_factory) -> str:
    """The tiny model with its own index, stored after the bento was built around the other."""
    folder = with_index(model_dir, tmp_path_factory.mktemp("indexed") / "model", reference)
    return save_bento_model(folder, METADATA)


@pytest.fixture(scope="module")
def foreign_tag(bento_tag, model_dir, tmp_path_factory) -> str:
    """The tiny model with an index embedded by another encoder (the same, seeded otherwise)."""
    classifier, tokenizer = build_classifier(TINY_BASE_MODEL, TAXONOMY, seed=1)
    other = ModerationModel(classifier, tokenizer, TAXONOMY, TINY_BASE_MODEL, 32)
    folder = with_index(model_dir, tmp_path_factory.mktemp("foreign") / "model", other)
    return save_bento_model(folder, METADATA)


def launch(bento_tag: str, model_tag: str, settings: ServingConfig, log: Path) -> SimpleNamespace:
    """`bentoml serve` of the bento with ``model_tag`` and ``settings``, not waited for."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_ENV_PREFIX)}
    env.update({MODEL_TAG_ENV: model_tag, **settings_env(settings)})
    port = free_port()
    with open(log, "w") as out:
        process = subprocess.Popen(
            serve_command(bento_tag, port),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    return SimpleNamespace(url=f"http://127.0.0.1:{port}", log=log, process=process)


@pytest.fixture(scope="module")
def servers(bento_tag, indexed_tag, foreign_tag, tmp_path_factory):
    """The two servers, started at once: each start is 10-30 s of imports and loading. (The
    default settings' answer, without `matches`, is checked by tests/model/test_serving.py.)"""
    folder = tmp_path_factory.mktemp("serve")
    configs = {
        "matching": (indexed_tag, MATCHING),
        "foreign": (foreign_tag, MATCHING),
    }
    launched = {}
    try:
        for name, (tag, settings) in configs.items():
            launched[name] = launch(bento_tag, tag, settings, folder / f"{name}.log")
        yield launched
    finally:
        for server in launched.values():  # all told first, so that they stop at once
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGTERM)
        for server in launched.values():
            stop(server.process)


def ready(server: SimpleNamespace) -> SimpleNamespace:
    wait_for(f"{server.url}/readyz", server.process, server.log, READY_TIMEOUT_S)
    return server


@pytest.fixture(scope="module")
def matching(servers):
    return ready(servers["matching"])


def moderate(url: str, texts: list[str]) -> list[dict]:
    response = httpx.post(f"{url}/moderate", json={"input": texts}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_the_bento_model_carries_the_index(indexed_tag):
    """save_bento_model copies the whole model folder, the index with it."""
    folder = Path(bentoml.models.get(indexed_tag).path_of(MODEL_SUBDIR)) / INDEX_DIR
    assert sorted(p.name for p in folder.iterdir()) == [
        "entries.jsonl",
        "manifest.json",
        "vectors.faiss",
    ]


def test_a_re_upload_is_matched_and_flagged_whatever_its_score(matching, reference):
    identical, near, unrelated = moderate(matching.url, [INSULT.upper(), NEAR_INSULT, UNRELATED])
    for result in identical, near:
        assert result["category_scores"]["insult"] < 0.5  # the classifier would let it through
        assert result["categories"]["insult"] is True and result["flagged"] is True
        assert [(m["id"], m["category"]) for m in result["matches"]] == [("removed-1", "insult")]
        assert result["matches"][0]["excerpt"] == INSULT
    assert identical["matches"][0]["similarity"] == 1.0
    # The text's embedding is the one the index was built with: the in-process similarity.
    _, vectors = reference.predict_with_embeddings([NEAR_INSULT, INSULT])
    assert near["matches"][0]["similarity"] == pytest.approx(vectors[0] @ vectors[1], abs=1e-3)
    assert unrelated["matches"] == []
    assert unrelated["flagged"] is any(
        score >= reference.thresholds[name] for name, score in unrelated["category_scores"].items()
    )


def test_a_long_re_upload_is_matched_over_its_windows(matching):
    (result,) = moderate(matching.url, [SCAM])
    assert [(m["id"], m["category"], m["similarity"]) for m in result["matches"]] == [
        ("removed-3", "scam", 1.0)
    ]


def test_each_category_matches_from_its_own_cut_off(matching):
    exact, near, kept = moderate(matching.url, [THREAT, NEAR_THREAT, KEPT])
    assert [m["id"] for m in exact["matches"]] == ["removed-2"]
    assert near["matches"] == []  # 0.979: past the default 0.95, not threat's 0.99
    assert kept["matches"] == []  # reviewed and kept: not indexed


def test_the_log_says_matches_are_on(matching):
    log = matching.log.read_text(encoding="utf-8")
    assert "matches on: 3 known violations" in log and "'threat': 0.99" in log


def test_rank_is_unchanged_by_matches(matching):
    items = [{"id": "a", "text": INSULT}, {"id": "b", "text": UNRELATED}]
    response = httpx.post(f"{matching.url}/rank", json={"items": items}, timeout=60)
    assert response.status_code == 200, response.text
    fields = [set(item) for item in response.json()["results"]]
    assert fields == [{"id", "score", "category", "flagged"}] * 2


def test_the_openapi_schema_documents_matches(matching):
    schemas = httpx.get(f"{matching.url}/docs.json", timeout=60).json()["components"]["schemas"]
    (result,) = [s for s in schemas.values() if "category_scores" in s.get("properties", {})]
    assert {"flagged", "categories", "matches"} <= set(result["properties"])
    assert {"id", "category", "similarity", "excerpt"} <= set(schemas["Match"]["properties"])


def test_an_index_from_another_encoder_stops_the_server(servers):
    foreign = servers["foreign"]
    try:
        foreign.process.wait(timeout=READY_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running:\n{foreign.log.read_text(encoding='utf-8')[-3000:]}")
    lines = foreign.log.read_text(encoding="utf-8").splitlines()
    refusals = [line for line in lines if "cannot serve them" in line]
    assert len(refusals) == 1, lines[-20:]
    assert "ERROR" in refusals[0] and "built with encoder 'tiny-random-bert@" in refusals[0]
    assert not any("Traceback" in line for line in lines), lines[-20:]


# In-process: the match logic and the index's loading.


def test_matches_are_the_nearest_of_each_category_past_its_cut_off():
    entries = [Entry("a", ("insult",), "x"), Entry("b", ("insult", "scam"), "y")]
    nearest = Nearest(
        similarity=np.array([[0.97, 0.0, 0.99], [0.90, 0.0, 0.96], [1.00001, 0.0, 0.0]]),
        position=np.array([[0, -1, 1], [0, -1, 1], [1, -1, -1]]),
    )
    cutoffs = {"insult": 0.95, "threat": 0.95, "scam": 0.98}
    found = matches_past_cutoffs(nearest, entries, TAXONOMY.names, cutoffs)
    assert [[(m.id, m.category, m.similarity) for m in row] for row in found] == [
        [("b", "scam", 0.99), ("a", "insult", 0.97)],  # most similar first
        [],  # insult under 0.95, scam under its own 0.98
        [("b", "insult", 1.0)],  # float noise past identity is 1
    ]


def test_loading_the_index(reference, model_dir, tmp_path):
    settings = ServingConfig(match_similarity=0.9, match_similarity_by_category={"scam": 0.99})
    assert Matcher.load(model_dir, reference.encoder_id, reference.categories, settings, 1) is None
    folder = with_index(model_dir, tmp_path / "model", reference)
    matcher = Matcher.load(folder, reference.encoder_id, reference.categories, settings, 1)
    assert len(matcher) == 3
    assert matcher.cutoffs == {"insult": 0.9, "threat": 0.9, "scam": 0.99}
    with pytest.raises(ModpipeError, match="the model's is 'another@0'"):
        Matcher.load(folder, "another@0", reference.categories, settings, 1)
    with pytest.raises(ModpipeError, match="categories the model lacks: scam"):
        Matcher.load(folder, reference.encoder_id, ["insult", "threat"], settings, 1)
