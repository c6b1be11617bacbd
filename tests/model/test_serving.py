"""Packaging and serving end to end: a tiny model -> BentoML model -> bento -> `bentoml serve`.

The servers are real `bentoml serve` subprocesses on free loopback ports, with the BentoML store
in a temporary folder (tests/conftest.py). The bento is built once and served twice for the
module (5 to 25 s each on a shared 2-core machine): with small limits set through the
environment, and with the defaults and int8 quantisation.
"""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

import bentoml
import httpx
import numpy as np
import pytest
from servers import free_port
from tiny_bento import METADATA, TAXONOMY, THRESHOLDS, serving, settings_env

from components.errors import ModpipeError
from components.model.evidence import explain
from components.model.modeling import ModerationModel
from components.model.normalize import normalize
from components.registry.bentos import build_bento, package_model, serve_command
from components.serving_config import ServingConfig
from serving.settings import (
    BENTO_MODEL_NAME,
    MODEL_SUBDIR,
    MODEL_TAG_ARGUMENT,
    MODEL_TAG_ENV,
    SERVING_ARGUMENT,
)

pytestmark = pytest.mark.slow

TEXTS = [
    "you are wonderful",
    "",
    "pay me now or else",
    "Ünïcödé \u2028 line separator, emoji 🙂👍🏽, RTL \u202e text \u05e9\u05dc\u05d5\u05dd",
    "zero\u200bwidth\u200d joiners, combining e\u0301, surrogate-free 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "control \x00 \x07 \x1b[31m characters \ufeff\ufffd",
    "word " * 300,  # longer than the model's window: scored over windows, not rejected
]
# The first server's limits, set through the environment as an operator would.
LIMITS = ServingConfig(
    max_texts=8, max_text_chars=2_000, max_body_bytes=20_000, evidence_max_texts=4
)
SECRET = "qzx-private-words"  # stands in for a user's text that must not be echoed or logged
TOO_LONG = (SECRET * LIMITS.max_text_chars)[: LIMITS.max_text_chars + 1]
# Texts the tiny model flags (threat, scam) short of a saturated score, so that erasing a word
# moves it and they have evidence; the same first text with zero-width characters before and
# inside its evidence and a Cyrillic look-alike letter.
EVIDENT = ["pay will you I", "hurt will or stupid send you"]
OBFUSCATED = "\u200bpay w\u0456ll y\u200bou I"


@pytest.fixture(scope="module")
def server(bento_tag, bentoml_home, tmp_path_factory):
    """Served with LIMITS, set through the environment."""
    settings = settings_env(LIMITS)
    port = free_port()
    command = serve_command(bento_tag, port)
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with serving(command, port, log, settings) as served:
        yield served


@pytest.fixture(scope="module")
def server_url(server) -> str:
    return server.url


@pytest.fixture(scope="module")
def quantized_server(bento_tag, bentoml_home, tmp_path_factory):
    """`modpipe serve TAG --quantize`: the bento's own settings (the defaults), int8, with
    evidence turned off."""
    port = free_port()
    command = [sys.executable, "-m", "workflows.cli", "serve", bento_tag]
    command += ["--port", str(port), "--quantize"]
    log = tmp_path_factory.mktemp("serve-int8") / "serve.log"
    with serving(command, port, log, {"MODPIPE_SERVE_EVIDENCE": "false"}) as served:
        yield served


def moderate(url: str, body) -> httpx.Response:
    return httpx.post(f"{url}/moderate", json=body, timeout=60)


def assert_matches(result: dict, expected_scores: np.ndarray, thresholds: dict) -> None:
    assert list(result["category_scores"]) == TAXONOMY.names
    served = np.array([result["category_scores"][name] for name in TAXONOMY.names])
    np.testing.assert_allclose(served, expected_scores, atol=1e-4)
    flags = {name: bool(served[i] >= thresholds[name]) for i, name in enumerate(TAXONOMY.names)}
    assert result["categories"] == flags
    assert result["flagged"] is any(flags.values())


def test_bento_model_holds_the_folder_versions_and_thresholds(model_tag, model_dir):
    stored = bentoml.models.get(model_tag)
    assert stored.info.labels == {k: METADATA[k] for k in ("model_version", "dataset_version")}
    assert stored.info.metadata["metrics"] == METADATA["metrics"]
    assert stored.info.metadata["thresholds"] == THRESHOLDS
    assert stored.info.metadata["categories"] == TAXONOMY.names
    copied = Path(stored.path_of(MODEL_SUBDIR))
    assert sorted(p.name for p in copied.iterdir()) == sorted(p.name for p in model_dir.iterdir())
    assert ModerationModel.load(copied).thresholds == THRESHOLDS


def test_bento_pins_its_model_sources_and_cpu_torch(bento_tag, model_tag):
    bento = bentoml.bentos.get(bento_tag)
    assert bento.info.args[MODEL_TAG_ARGUMENT] == model_tag  # resolved from "latest"
    assert bento.info.args[SERVING_ARGUMENT] == ServingConfig().model_dump()
    assert [str(m.tag) for m in bento.info.all_models] == [model_tag]
    source = Path(bento.path) / "src"
    assert (source / "components" / "model" / "modeling.py").is_file()
    assert (source / "serving" / "service.py").is_file()
    python_env = Path(bento.path) / "env" / "python"
    assert not (python_env / "requirements.lock.txt").exists()
    requirements = (python_env / "requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert f"torch=={version('torch')}" in requirements  # the tested versions
    assert f"transformers=={version('transformers')}" in requirements
    assert version("torch").endswith("+cpu")


def test_package_model_refuses_a_folder_that_is_not_a_model(bentoml_home, tmp_path):
    with pytest.raises(ModpipeError, match="not a saved moderation model"):
        package_model(tmp_path, METADATA)


def test_build_bento_refuses_an_unknown_model(bentoml_home):
    with pytest.raises(ModpipeError, match="no BentoML model"):
        build_bento(f"{BENTO_MODEL_NAME}:doesnotexist")


def test_one_text_is_scored_as_in_process(server_url, reference, model_tag):
    response = moderate(server_url, {"input": TEXTS[2]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"].startswith("modr-")
    assert_versions(body, model_tag)
    assert len(body["results"]) == 1
    assert_matches(body["results"][0], reference.predict_scores([TEXTS[2]])[0], THRESHOLDS)
    assert "matches" not in body["results"][0]  # matching is off by default: OpenAI's shape


def assert_versions(body: dict, model_tag: str) -> None:
    assert body["model"] == model_tag
    assert (body["model_version"], body["dataset_version"]) == (
        METADATA["model_version"],
        METADATA["dataset_version"],
    )


def test_a_batch_of_odd_texts_keeps_its_order(server_url, reference):
    response = moderate(server_url, {"input": TEXTS})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    expected = reference.predict_scores(TEXTS)
    assert len(results) == len(TEXTS)
    for result, scores in zip(results, expected, strict=True):
        assert_matches(result, scores, THRESHOLDS)


def test_concurrent_requests_each_get_their_own_scores(server_url, reference):
    # Concurrent requests share model calls (serving.batching): each must get its own rows.
    texts = [f"message {i} " * (i % 20 + 1) for i in range(150)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda text: moderate(server_url, {"input": [text]}), texts))
    expected = reference.predict_scores(texts)
    for response, scores in zip(responses, expected, strict=True):
        assert response.status_code == 200, response.text
        assert_matches(response.json()["results"][0], scores, THRESHOLDS)


def test_thresholds_can_be_overridden_per_request(server_url, reference):
    overrides = {"insult": 0.0, "scam": 1.0}
    response = moderate(server_url, {"input": TEXTS[0], "thresholds": overrides})
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["categories"]["insult"] is True
    assert result["categories"]["scam"] is False
    assert_matches(result, reference.predict_scores([TEXTS[0]])[0], THRESHOLDS | overrides)


def test_flagged_categories_carry_evidence_in_the_offsets_of_the_text_sent(server_url, reference):
    texts = [*EVIDENT, OBFUSCATED, TEXTS[0]]
    response = moderate(server_url, {"input": texts})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    expected = explain(reference, texts)
    assert sum(len(spans) for found in expected for spans in found.values()) >= 3
    for text, result, want in zip(texts, results, expected, strict=True):
        flagged = [name for name, on in result["categories"].items() if on]
        assert list(result["evidence"]) == flagged  # unflagged categories have none
        for name in flagged:
            spans = result["evidence"][name]
            assert all(text[s["start"] : s["end"]] == s["text"] for s in spans)
            assert [(s["start"], s["end"]) for s in spans] == [(s.start, s.end) for s in want[name]]
            assert [s["score"] for s in spans] == pytest.approx(
                [s.score for s in want[name]], abs=1e-3
            )
            assert all("part" not in s for s in spans)
    plain, obfuscated = results[0]["evidence"], results[2]["evidence"]
    assert {name: [normalize(s["text"]) for s in spans] for name, spans in obfuscated.items()} == {
        name: [s["text"] for s in spans] for name, spans in plain.items()
    }


def test_content_parts_evidence_names_its_part(server_url):
    parts = [{"type": "text", "text": TEXTS[2]}, {"type": "text", "text": EVIDENT[1]}]
    response = moderate(server_url, {"input": parts})
    assert response.status_code == 200, response.text
    evidence = response.json()["results"][0]["evidence"]
    alone = moderate(server_url, {"input": EVIDENT[1]}).json()["results"][0]["evidence"]
    assert evidence == {
        name: [{**span, "part": 1} for span in spans] for name, spans in alone.items()
    }


def test_only_the_first_flagged_texts_of_a_request_are_explained(server_url):
    texts = [TEXTS[2], *[EVIDENT[0]] * 6]  # the first is not flagged
    results = moderate(server_url, {"input": texts}).json()["results"]
    assert results[0]["evidence"] == {}
    assert all(result["evidence"]["threat"] for result in results[1:5])
    assert all("evidence" not in result for result in results[5:])


def rank(url: str, body) -> httpx.Response:
    return httpx.post(f"{url}/rank", json=body, timeout=60)


def test_rank_orders_items_by_their_highest_score(server_url, reference, model_tag):
    items = [{"id": f"item-{i}", "text": text} for i, text in enumerate(TEXTS)]
    response = rank(server_url, {"items": items})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"].startswith("rank-")
    assert_versions(body, model_tag)
    results = body["results"]
    assert sorted(r["id"] for r in results) == sorted(item["id"] for item in items)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    scores = dict(zip([item["id"] for item in items], reference.predict_scores(TEXTS), strict=True))
    cutoffs = np.array([THRESHOLDS[name] for name in TAXONOMY.names])
    for result in results:
        expected = scores[result["id"]]
        assert result["score"] == pytest.approx(expected.max(), abs=1e-4)
        assert result["category"] == TAXONOMY.names[expected.argmax()]
        assert result["flagged"] is bool((expected >= cutoffs).any())


def test_rank_flags_with_the_requests_thresholds(server_url):
    items = [{"id": str(i), "text": text} for i, text in enumerate(TEXTS)]
    everything = {name: 0.0 for name in TAXONOMY.names}
    flagged = rank(server_url, {"items": items, "thresholds": everything}).json()["results"]
    default = rank(server_url, {"items": items}).json()["results"]
    assert all(r["flagged"] for r in flagged)
    assert not all(r["flagged"] for r in default)
    assert [r["id"] for r in flagged] == [r["id"] for r in default]  # flags never reorder


def test_health_readiness_and_prometheus_metrics(server_url):
    assert httpx.get(f"{server_url}/livez", timeout=10).status_code == 200
    assert httpx.get(f"{server_url}/readyz", timeout=10).status_code == 200
    metrics = httpx.get(f"{server_url}/metrics", timeout=10)
    assert metrics.status_code == 200
    assert 'endpoint="/moderate"' in metrics.text and "request_duration_seconds" in metrics.text


def assert_clear_error(server, response: httpx.Response, status: int, problem: str) -> None:
    """The status and the problem's type, no user text echoed or logged, and still serving."""
    assert response.status_code == status, response.text
    error = response.json()
    assert error["error"] and all(d["msg"] for d in error["detail"]), error
    assert problem in [d["type"] for d in error["detail"]], error
    assert SECRET not in response.text
    assert SECRET not in server.log.read_text(encoding="utf-8")  # failures are logged
    assert moderate(server.url, {"input": "still there?"}).status_code == 200


@pytest.mark.parametrize(
    "body, problem",
    [
        (f'{{"input": "{SECRET}"', "json_invalid"),
        (b"\xff\xfe not utf-8", "json_invalid"),
        ({"text": SECRET}, "missing"),
        ({"input": SECRET, "threshold": {"insult": 0.1}}, "extra_forbidden"),  # a typo
        ({"input": []}, "too_short"),
        ({"input": [SECRET, 3]}, "string_type"),
        ({"input": None}, "list_type"),
        ([SECRET], "model_type"),
        ({"input": [SECRET] * (LIMITS.max_texts + 1)}, "too_long"),
        ({"input": TOO_LONG}, "string_too_long"),
        ({"input": SECRET, "thresholds": {"nonsense": 0.5}}, "unknown_category"),
        ({"input": SECRET, "thresholds": {"insult": 1.5}}, "less_than_equal"),
        ({"input": SECRET, "thresholds": {"insult": -0.1}}, "greater_than_equal"),
        ({"input": SECRET, "thresholds": {"insult": "high"}}, "float_type"),
        ({"input": SECRET, "thresholds": {"insult": "0.5"}}, "float_type"),  # strict
        ({"input": SECRET, "thresholds": {"insult": True}}, "float_type"),
    ],
)
def test_bad_moderation_requests_get_a_clear_400(server, body, problem):
    if isinstance(body, (str, bytes)):
        response = httpx.post(
            f"{server.url}/moderate",
            content=body,
            timeout=60,
            headers={"content-type": "application/json"},
        )
    else:
        response = moderate(server.url, body)
    assert_clear_error(server, response, 400, problem)


@pytest.mark.parametrize(
    "body, problem",
    [
        ({"items": []}, "too_short"),
        ({"items": [{"id": "a"}]}, "missing"),
        ({"items": [{"id": "", "text": SECRET}]}, "string_too_short"),
        ({"items": [{"id": "a", "text": SECRET}, {"id": "a", "text": "x"}]}, "duplicate_id"),
        (
            {"items": [{"id": str(i), "text": SECRET} for i in range(LIMITS.max_texts + 1)]},
            "too_long",
        ),
        ({"items": [{"id": "a", "text": TOO_LONG}]}, "string_too_long"),
        (
            {"items": [{"id": "a", "text": SECRET}], "thresholds": {"nonsense": 0.5}},
            "unknown_category",
        ),
        ({"items": [SECRET]}, "model_type"),
    ],
)
def test_bad_rank_requests_get_a_clear_400(server, body, problem):
    assert_clear_error(server, rank(server.url, body), 400, problem)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_body_that_is_not_json_gets_415(server, content_type):
    response = httpx.post(
        f"{server.url}/moderate",
        content=f'{{"input": "{SECRET}"}}',
        headers={"content-type": content_type},
        timeout=60,
    )
    assert_clear_error(server, response, 415, "unsupported_media_type")
    assert "application/json" in response.json()["error"]


def post_json(url: str, body: bytes, chunk_size: int | None = None) -> httpx.Response:
    """POST a JSON body as it is, or in chunks (no Content-Length: chunked transfer)."""

    def chunks():
        yield from (body[i : i + chunk_size] for i in range(0, len(body), chunk_size))

    return httpx.post(
        url,
        content=chunks() if chunk_size else body,
        timeout=60,
        headers={"content-type": "application/json"},
    )


def test_a_body_over_the_size_limit_gets_413_declared_or_chunked(server):
    body = json.dumps({"input": SECRET * (LIMITS.max_body_bytes // len(SECRET))}).encode()
    declared = post_json(f"{server.url}/moderate", body)
    assert_clear_error(server, declared, 413, "body_too_large")
    assert f"{LIMITS.max_body_bytes:,} bytes" in declared.json()["error"]
    chunked = post_json(f"{server.url}/moderate", body, chunk_size=4096)
    assert "content-length" not in chunked.request.headers
    assert_clear_error(server, chunked, 413, "body_too_large")


def test_a_chunked_body_within_the_limit_is_served(server_url, reference):
    body = json.dumps({"input": TEXTS}).encode()
    response = post_json(f"{server_url}/moderate", body, chunk_size=100)
    assert response.status_code == 200, response.text
    expected = reference.predict_scores(TEXTS)
    for result, scores in zip(response.json()["results"], expected, strict=True):
        assert_matches(result, scores, THRESHOLDS)


def test_default_limits_are_those_of_the_bento(quantized_server):
    defaults = ServingConfig()
    most = {"input": ["x" * defaults.max_text_chars] + ["y"] * (defaults.max_texts - 1)}
    assert moderate(quantized_server.url, most).status_code == 200
    too_many = {"input": ["y"] * (defaults.max_texts + 1)}
    assert_clear_error(quantized_server, moderate(quantized_server.url, too_many), 400, "too_long")
    too_long = {"input": "x" * (defaults.max_text_chars + 1)}
    assert_clear_error(
        quantized_server, moderate(quantized_server.url, too_long), 400, "string_too_long"
    )


def test_quantised_service_scores_as_the_int8_model_in_process(
    quantized_server, model_dir, reference
):
    quantized = ModerationModel.load(model_dir, device="cpu")
    quantized.quantize_int8()
    expected = quantized.predict_scores(TEXTS)
    response = moderate(quantized_server.url, {"input": TEXTS})
    assert response.status_code == 200, response.text
    for result, scores in zip(response.json()["results"], expected, strict=True):
        assert_matches(result, scores, THRESHOLDS)
    assert not np.allclose(expected, reference.predict_scores(TEXTS), atol=1e-6)  # int8 is on
    assert all("evidence" not in result for result in response.json()["results"])  # off


def test_the_service_imports_none_of_the_pipelines_libraries(model_tag, bentoml_home):
    """The bento installs only serving/bentofile.yaml's packages: no kfp, MLflow, DVC or GX."""
    probe = (
        "import sys, serving.service; "
        "print(sorted({'kfp', 'mlflow', 'dvc', 'great_expectations'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=300,
        env={**os.environ, MODEL_TAG_ENV: model_tag},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
