"""serving.batching: concurrent requests share model calls, and each gets its own rows back."""

import asyncio

import numpy as np
import pytest

from serving.batching import MicroBatcher


class RecordingModel:
    """One row per text, [len(text), index of the call]; records each call's texts."""

    def __init__(self, fail_on: str | None = None):
        self.calls: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if self.fail_on in texts:
            raise RuntimeError("model failure")
        return np.array([[len(t), len(self.calls)] for t in texts], dtype=float)


async def gather_requests(batcher: MicroBatcher, requests: list[list[str]]) -> list[np.ndarray]:
    return await asyncio.gather(*(batcher(texts) for texts in requests))


def test_concurrent_requests_share_calls_and_keep_their_order():
    model = RecordingModel()
    requests = [["a" * (i + 1)] * (i % 3 + 1) for i in range(20)]
    results = asyncio.run(gather_requests(MicroBatcher(model, max_batch_size=8), requests))
    for texts, rows in zip(requests, results, strict=True):
        assert rows[:, 0].tolist() == [len(t) for t in texts]
    assert len(model.calls) < len(requests)  # batched
    assert max(len(call) for call in model.calls) <= 8
    assert sorted(t for call in model.calls for t in call) == sorted(t for r in requests for t in r)


def test_a_long_request_does_not_stall_a_short_one_queued_behind_it():
    model = RecordingModel()

    async def scenario():
        batcher = MicroBatcher(model, max_batch_size=8)
        long = asyncio.ensure_future(batcher(["long"] * 100))
        await asyncio.sleep(0)
        short = await batcher(["short"])
        return short, await long

    short, long = asyncio.run(scenario())
    call = int(short[0, 1])  # scored in the first call after it queued, beside the long one
    assert call <= 2 and model.calls[call - 1].count("long") == 7
    assert long[:, 0].tolist() == [4] * 100
    assert len(model.calls) == 13  # 101 items in full batches of 8


def test_a_lone_request_is_scored_at_once_in_one_call():
    model = RecordingModel()
    rows = asyncio.run(MicroBatcher(model, max_batch_size=8)(["one", "three"]))
    assert rows[:, 0].tolist() == [3, 5]
    assert model.calls == [["one", "three"]]


def test_a_request_over_the_batch_size_is_split_and_reassembled():
    model = RecordingModel()
    texts = [str(i) * (i + 1) for i in range(10)]
    rows = asyncio.run(MicroBatcher(model, max_batch_size=4)(texts))
    assert rows[:, 0].tolist() == [len(t) for t in texts]
    assert [len(call) for call in model.calls] == [4, 4, 2]


def test_a_failing_batch_fails_its_requests_and_the_next_batch_still_runs():
    model = RecordingModel(fail_on="bad")

    async def scenario():
        batcher = MicroBatcher(model, max_batch_size=2)
        failing = asyncio.ensure_future(batcher(["bad", "x"]))
        await asyncio.sleep(0)  # the failing batch is being scored
        served = asyncio.ensure_future(batcher(["fine", "ok"]))
        return await asyncio.gather(failing, served, return_exceptions=True)

    failed, served = asyncio.run(scenario())
    assert isinstance(failed, RuntimeError)
    assert served[:, 0].tolist() == [4, 2]


def test_a_cancelled_request_is_never_scored():
    model = RecordingModel()

    async def scenario():
        batcher = MicroBatcher(model, max_batch_size=1)
        first = asyncio.ensure_future(batcher(["first"]))
        doomed = asyncio.ensure_future(batcher(["doomed"]))
        last = asyncio.ensure_future(batcher(["last"]))
        await asyncio.sleep(0)  # all three queued; the first is being scored
        doomed.cancel()
        await asyncio.gather(first, last)
        with pytest.raises(asyncio.CancelledError):
            await doomed

    asyncio.run(scenario())
    assert ["doomed"] not in model.calls
    assert model.calls == [["first"], ["last"]]
