"""The guard's parts without a server: strict JSON, bounded answers, the admission budget, and the
deadline and cancellation of serving.admission on a small ASGI app."""

import asyncio
import json

import pytest
from pydantic import BaseModel, ValidationError

from serving.admission import Admission
from serving.guard import MAX_OBJECT_KEYS, BadJSON, strict_json
from serving.problems import MAX_ERRORS, MAX_KEY_CHARS, MAX_MESSAGE_CHARS, Refusal, problem


@pytest.mark.parametrize(
    "body, kind",
    [
        (b'{"a": 1, "a": 2}', "duplicate_key"),
        (b'{"x": {"a": 1, "b": 2, "a": 3}}', "duplicate_key"),
        (b'{"a": NaN}', "json_invalid"),
        (b'{"a": -Infinity}', "json_invalid"),
        (b"\xff\xfe{}", "json_invalid"),
        (b"[" * 50_000, "json_invalid"),
        (json.dumps({str(i): 0 for i in range(MAX_OBJECT_KEYS + 1)}).encode(), "too_many_keys"),
    ],
)
def test_strict_json_refuses(body, kind):
    with pytest.raises(BadJSON) as refused:
        strict_json(body)
    assert refused.value.kind == kind


def test_strict_json_reads_plain_json():
    assert strict_json(b'{"input": ["a", "b"], "thresholds": {"x": 0.5}}') == {
        "input": ["a", "b"],
        "thresholds": {"x": 0.5},
    }


def test_a_repeated_key_is_named_but_cut_short():
    key = "k" * 1000
    with pytest.raises(BadJSON, match="appears twice") as refused:
        strict_json(json.dumps({key: 1}).replace("}", f', "{key}": 2}}').encode())
    assert len(str(refused.value)) < 100


class Texts(BaseModel):
    input: list[str]


def test_a_refusal_lists_a_bounded_number_of_problems():
    with pytest.raises(ValidationError) as invalid:
        Texts.model_validate({"input": list(range(500))})
    refusal = Refusal.invalid(invalid.value)
    body = json.loads(refusal.response.body)
    assert refusal.response.status_code == 400 and refusal.total == 500
    assert len(body["detail"]) == MAX_ERRORS and body["omitted"] == 500 - MAX_ERRORS
    assert body["error"] == "500 validation errors for Texts"


def test_a_problem_cuts_keys_and_messages_short():
    entry = problem("unknown", ["thresholds", "x" * 500, 3], "m" * 5000)
    assert len(entry["loc"][1]) == MAX_KEY_CHARS and entry["loc"][2] == 3
    assert len(entry["msg"]) == MAX_MESSAGE_CHARS


def test_admission_counts_long_texts_by_window_and_lets_a_big_request_in_alone():
    admission = Admission(budget=10, chars_per_unit=100, retry_after_s=2, deadline_s=1.0)
    assert admission.cost(["", "short", "x" * 100, "x" * 101]) == 1 + 1 + 1 + 2
    big = admission.admit(["x" * 5000])  # 50 units: over the budget, but nothing is in flight
    with pytest.raises(Refusal) as shed:
        admission.admit(["hello"])
    assert shed.value.response.status_code == 503
    assert shed.value.response.headers["retry-after"] == "2"
    admission.release(big)
    assert admission.admit(["hello"] * 10) == 10 and admission.full()


def run_app(app, admission: Admission, client_leaves_after: float | None = None) -> list[dict]:
    """``admission.run`` of ``app`` on a POST; returns what was sent back."""
    sent = []

    async def main():
        left = asyncio.Event()

        async def receive():
            await left.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        if client_leaves_after is not None:
            asyncio.get_running_loop().call_later(client_leaves_after, left.set)
        scope = {"type": "http", "method": "POST", "path": "/moderate", "headers": []}
        await admission.run(app, scope, b"{}", receive, send)

    asyncio.run(main())
    return sent


def slow_app(cancelled: list):
    async def app(scope, receive, send):
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    return app


def test_work_past_the_deadline_is_cancelled_and_gets_504():
    cancelled = []
    sent = run_app(slow_app(cancelled), Admission(10, 100, 1, deadline_s=0.2))
    assert cancelled == [True]
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 504


def test_work_whose_client_left_is_cancelled():
    cancelled = []
    sent = run_app(slow_app(cancelled), Admission(10, 100, 1, deadline_s=30), 0.1)
    assert cancelled == [True]
    assert sent[0]["status"] == 499  # read by no one, but it ends the request for BentoML


def test_work_within_the_deadline_answers_as_it_would():
    async def app(scope, receive, send):
        assert (await receive())["body"] == b"{}"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    sent = run_app(app, Admission(10, 100, 1, deadline_s=5))
    assert [m.get("status") for m in sent] == [200, None] and sent[1]["body"] == b"ok"
