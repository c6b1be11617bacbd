"""Adaptive batching inside the service: concurrent requests' items share one model call.

Continuous batching: while the model scores one batch, new requests queue; the next batch takes
from all that queued, up to ``max_batch_size`` items. Batches grow with the load and nothing
waits for a timer, so a lone request is scored at once. The items are token windows, and a long
text has many: so that it cannot stall short texts queued behind it, every waiting request gets a
fair share of each batch (``max_batch_size`` / requests waiting, at least one item) before the
rest of the room goes to the oldest. BentoML's own batching (a ``batchable`` API called through
``self.to_async``) sends each request through a second, in-process HTTP round trip; on 2 cores
that cost 40% of the service's throughput (BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

Predict = Callable[[list], np.ndarray]


@dataclass(eq=False)
class _Request:
    items: list
    future: asyncio.Future
    scheduled: int = 0  # items handed to a batch so far
    rows: list[np.ndarray] = field(default_factory=list)

    @property
    def waiting(self) -> int:
        return len(self.items) - self.scheduled


class MicroBatcher:
    def __init__(self, predict: Predict, max_batch_size: int) -> None:
        """``predict`` maps items to rows; it runs in a worker thread, one call at a time."""
        self.predict = predict
        self.max_batch_size = max_batch_size
        # One thread, always the same: a pool's threads each grow their own malloc arena.
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self.queue: deque[_Request] = deque()
        self.worker: asyncio.Task | None = None

    async def __call__(self, items: list) -> np.ndarray:
        """The rows for ``items``, in their order."""
        request = _Request(items, asyncio.get_running_loop().create_future())
        self.queue.append(request)
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self.drain())
        return await request.future

    async def drain(self) -> None:
        loop = asyncio.get_running_loop()
        while batch := self.next_batch():
            items = [
                item for request, (start, end) in batch.items() for item in request.items[start:end]
            ]
            try:
                rows = await loop.run_in_executor(self.thread, self.predict, items)
            except Exception as err:  # every request in the batch gets the error
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(err)
                continue
            offset = 0
            for request, (start, end) in batch.items():
                request.rows.append(rows[offset : offset + end - start])
                offset += end - start
                if request.waiting == 0 and not request.future.done():
                    request.future.set_result(np.concatenate(request.rows))

    def next_batch(self) -> dict[_Request, tuple[int, int]]:
        """Item ranges of the waiting requests, up to ``max_batch_size`` items: a fair share of
        the batch for each, then the room left for the oldest; finished, failed and cancelled
        requests are dropped."""
        self.queue = deque(r for r in self.queue if r.waiting and not r.future.done())
        room = self.max_batch_size
        share = max(1, room // max(1, len(self.queue)))
        batch: dict[_Request, tuple[int, int]] = {}
        for limit in (share, room):
            for request in self.queue:
                take = min(limit, request.waiting, room)
                if take:
                    start = batch.get(request, (request.scheduled, request.scheduled))[0]
                    request.scheduled += take
                    batch[request] = (start, request.scheduled)
                    room -= take
        return batch
