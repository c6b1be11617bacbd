"""The service under hostile traffic and overload, against a real `bentoml serve` of the tiny bento
(tests/conftest.py) with small limits: bounded error answers and logs, strict parsing, load
shedding, deadlines, cancellation, connection limits and bounded metrics. Every test ends by
checking that a valid request is still answered."""

import asyncio
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest
from servers import free_port
from tiny_bento import serving, settings_env

from components.registry.bentos import serve_command
from components.serving_config import ServingConfig
from serving.connections import UNKNOWN_PATH
from serving.problems import MAX_ERRORS, MAX_KEY_CHARS

pytestmark = pytest.mark.slow

# One worker, so that its per-worker limits are the server's; short timeouts, so tests are quick.
LIMITS = ServingConfig(
    workers=1,
    max_texts_in_flight=64,
    request_timeout_s=2.0,
    body_timeout_s=2.0,
    header_timeout_s=2.0,
    max_header_bytes=8192,
    max_headers=20,
    max_connections=20,
)
SECRET = "qzx-private-words"  # stands in for a user's text: never echoed or logged
# Big enough that scoring it takes longer than the 2 s deadline: 256 texts of 10,000 characters.
HUGE = {"input": [f"{SECRET} {i} " + "word " * 1990 for i in range(LIMITS.max_texts)]}


@pytest.fixture(scope="module")
def server(bento_tag, bentoml_home, tmp_path_factory):
    settings = settings_env(LIMITS)
    port = free_port()
    log = tmp_path_factory.mktemp("serve-hardened") / "serve.log"
    with serving(serve_command(bento_tag, port), port, log, settings) as served:
        yield served


def moderate(url: str, body, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}/moderate", json=body, timeout=60, **kwargs)


def post_raw(url: str, body: bytes, content_type: str | None = "application/json"):
    headers = {"content-type": content_type} if content_type else {}
    return httpx.post(f"{url}/moderate", content=body, headers=headers, timeout=60)


def still_serving(url: str, within_s: float = 5.0) -> None:
    started = time.monotonic()
    response = moderate(url, {"input": "still there?"})
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < within_s


def rss(process: psutil.Process) -> int:
    return process.memory_info().rss


def log_lines(server) -> list[str]:
    return server.log.read_text(encoding="utf-8").splitlines()


def error_types(response: httpx.Response) -> list[str]:
    return [d["type"] for d in response.json()["detail"]]


def test_many_validation_errors_get_a_bounded_answer_and_one_log_line(server):
    before = len(log_lines(server))
    response = moderate(server.url, {"input": [SECRET, *range(255)]})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "255 validation errors for ModerationRequest"
    assert len(body["detail"]) == MAX_ERRORS and body["omitted"] == 255 - MAX_ERRORS
    assert len(response.content) < 3000
    new = log_lines(server)[before:]
    assert not any("Traceback" in line or "ERROR" in line for line in new), new
    refusals = [line for line in new if "400 POST /moderate" in line]
    assert len(refusals) == 1 and "string_type" in refusals[0]
    assert len(new) <= 3  # the refusal and the access log
    assert SECRET not in server.log.read_text(encoding="utf-8")
    still_serving(server.url)


def test_two_ten_megabyte_bodies_of_threshold_keys_at_once_get_small_answers(server):
    worker = max(psutil.Process(server.process.pid).children(recursive=True), key=rss)
    rss_before = rss(worker)
    keys = {f"{SECRET}-{i}": 0.5 for i in range(400_000)}
    body = json.dumps({"input": "hello", "thresholds": keys}).encode()
    assert len(body) > 10_000_000
    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(lambda _: post_raw(server.url, body), range(2)))
    for response in responses:
        assert response.status_code == 400 and error_types(response) == ["too_many_keys"]
        assert len(response.content) < 1000 and SECRET not in response.text
    # Two 14 MB bodies at once once took 3.5 GB; these two are 20 MB together.
    assert rss(worker) - rss_before < 500 * 2**20
    still_serving(server.url)


def test_a_chosen_key_is_truncated_in_the_answer(server):
    key = SECRET * 100
    response = moderate(server.url, {"input": "hi", "thresholds": {key: 0.5}})
    assert response.status_code == 400 and error_types(response) == ["unknown_category"]
    assert SECRET * 3 not in response.text and key[: MAX_KEY_CHARS - 1] in response.text
    assert "insult, threat, scam" in response.text
    still_serving(server.url)


@pytest.mark.parametrize(
    "body, kind",
    [
        (b'{"input": "a", "input": "b"}', "duplicate_key"),
        (b'{"input": "a", "thresholds": {"insult": 0.1, "insult": 0.9}}', "duplicate_key"),
        (b'{"input": "a", "thresholds": {"insult": NaN}}', "json_invalid"),
        (b'{"input": "a", "thresholds": {"insult": Infinity}}', "json_invalid"),
        (b'{"input": "a", "thresholds": {"insult": "0.5"}}', "float_type"),
        (b'{"input": "a", "thresholds": {"insult": true}}', "float_type"),
        (b"[" * 100_000, "json_invalid"),
    ],
)
def test_strict_json(server, body, kind):
    response = post_raw(server.url, body)
    assert response.status_code == 400, response.text
    assert kind in error_types(response)
    still_serving(server.url)


def test_whole_number_thresholds_are_numbers(server):
    response = moderate(server.url, {"input": "hi", "thresholds": {"insult": 1, "scam": 0}})
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["categories"]["scam"] is True


def test_a_body_without_a_content_type_gets_415(server):
    response = post_raw(server.url, b'{"input": "hello"}', content_type=None)
    assert response.status_code == 415 and error_types(response) == ["unsupported_media_type"]
    still_serving(server.url)


def test_overload_is_shed_with_503_and_retry_after_and_slow_work_gets_504(server):
    """A request far over the worker's budget goes in alone and past its deadline: the rest get
    503 at once while it runs, it gets 504 at its deadline, and the worker is free after it."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        huge = pool.submit(moderate, server.url, HUGE)
        time.sleep(1.0)  # it is being scored
        started = time.monotonic()
        shed = moderate(server.url, {"input": ["hello"] * 8})
        assert time.monotonic() - started < 0.5
        assert shed.status_code == 503, shed.text
        assert shed.headers["retry-after"] == str(LIMITS.retry_after_s)
        assert error_types(shed) == ["overloaded"]
        slow = huge.result()
    assert slow.status_code == 504 and error_types(slow) == ["deadline_exceeded"]
    still_serving(server.url, within_s=1.0)
    assert any("504 POST /moderate" in line and "WARNING" in line for line in log_lines(server))


def test_a_request_whose_client_left_is_dropped(server):
    async def give_up() -> None:
        async with httpx.AsyncClient(timeout=0.5) as client:
            with pytest.raises(httpx.TimeoutException):
                await client.post(f"{server.url}/moderate", json=HUGE)

    asyncio.run(give_up())
    # The server learns of the hang-up on its event loop, later on a busy machine; once it has
    # dropped the request, a new one is not behind the texts of the client that left.
    wait_for_log(server, "client_gone", within_s=10.0)
    still_serving(server.url, within_s=1.0)


def wait_for_log(server, text: str, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not any(text in line for line in log_lines(server)):
        assert time.monotonic() < deadline, f"no {text!r} in the log after {within_s:g} s"
        time.sleep(0.05)


def raw_exchange(url: str, data: bytes, wait_s: float = 10.0) -> bytes:
    """Send ``data`` on a new connection, then read until the server closes it."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait_s) as conn:
        conn.sendall(data)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        return received


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def test_headers_over_the_size_limit_get_431(server):
    partial = b"POST /moderate HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000
    assert status_of(raw_exchange(server.url, partial)) == 431  # incomplete, and too big
    whole = partial + b"\r\nContent-Length: 0\r\n\r\n"
    assert status_of(raw_exchange(server.url, whole)) == 431  # complete in one read
    still_serving(server.url)


def test_a_stream_of_header_bytes_is_cut_off_early(server):
    host, port = server.url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"GET /livez HTTP/1.1\r\nX-Big: ")
        with pytest.raises(OSError):  # the server hangs up
            while sent < 100 * 2**20:
                sent += conn.send(b"a" * 65536)
    assert sent < 10 * 2**20  # it once read 100 MB of headers
    still_serving(server.url)


def test_too_many_headers_get_431(server):
    headers = {f"x-header-{i}": "1" for i in range(LIMITS.max_headers + 1)}
    response = httpx.get(f"{server.url}/livez", headers=headers, timeout=10)
    assert response.status_code == 431 and error_types(response) == ["too_many_headers"]
    still_serving(server.url)


def test_half_sent_headers_and_silent_connections_are_closed(server):
    started = time.monotonic()
    answer = raw_exchange(server.url, b"POST /moderate HTTP/1.1\r\nHost: x\r\n")
    assert status_of(answer) == 408
    assert time.monotonic() - started < LIMITS.header_timeout_s + 3
    assert raw_exchange(server.url, b"").startswith(b"HTTP/1.1 408")
    still_serving(server.url)


def test_a_body_shorter_than_its_length_gets_408_not_5xx(server):
    head = b"POST /moderate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    started = time.monotonic()
    answer = raw_exchange(server.url, head + b'Content-Length: 1000\r\n\r\n{"input": "hi"}')
    assert status_of(answer) == 408, answer[:300]
    assert time.monotonic() - started < LIMITS.body_timeout_s + 3  # not the 60 s it once took
    still_serving(server.url)


def test_connections_past_the_limit_get_503(server):
    # uvicorn counts the open connections, the asking one included, when a request's headers
    # arrive, and closes those it refuses. One at a time, kept open, so that the count is known
    # (all 30 connected at once could all be refused).
    host, port = server.url.removeprefix("http://").split(":")
    conns, statuses = [], []
    try:
        for _ in range(30):
            conns.append(socket.create_connection((host, int(port)), timeout=10))
            conns[-1].sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            statuses.append(status_of(conns[-1].recv(65536)))
    finally:
        for conn in conns:
            conn.close()
    served = statuses.count(200)
    assert 1 <= served < LIMITS.max_connections, statuses
    assert statuses == [200] * served + [503] * (30 - served), statuses
    still_serving(server.url)


def test_unknown_paths_share_one_metrics_label(server):
    for i in range(30):
        assert httpx.get(f"{server.url}/probe-{i}", timeout=10).status_code == 404
    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert "probe-" not in metrics
    assert f'endpoint="{UNKNOWN_PATH}"' in metrics
    assert 'endpoint="/moderate"' in metrics
    still_serving(server.url)
