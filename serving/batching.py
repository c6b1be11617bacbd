"""Adaptive batching inside the service: concurrent requests' texts share one model call.

Continuous batching: while the model scores one batch, new texts queue; the next batch takes all
that queued, up to ``max_batch_size`` texts. Batches grow with the load and nothing waits for a
timer, so a lone request is scored at once. BentoML's own batching (a ``batchable`` API called
through ``self.to_async``) does the same but sends each request through a second, in-process HTTP
round trip; on 2 cores that cost 40% of the service's throughput (BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

Predict = Callable[[list[str]], np.ndarray]


class MicroBatcher:
    def __init__(self, predict: Predict, max_batch_size: int) -> None:
        """``predict`` maps texts to rows; it runs in a worker thread, one call at a time."""
        self.predict = predict
        self.max_batch_size = max_batch_size
        # One thread, always the same: a pool's threads each grow their own malloc arena.
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self.queue: deque[tuple[list[str], asyncio.Future]] = deque()
        self.worker: asyncio.Task | None = None

    async def __call__(self, texts: list[str]) -> np.ndarray:
        """The rows for ``texts``, in their order; a request over the batch size is split."""
        loop = asyncio.get_running_loop()
        futures = []
        for start in range(0, len(texts), self.max_batch_size):
            futures.append(loop.create_future())
            self.queue.append((texts[start : start + self.max_batch_size], futures[-1]))
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self.drain())
        return np.concatenate(await asyncio.gather(*futures))

    async def drain(self) -> None:
        loop = asyncio.get_running_loop()
        while batch := self.next_batch():
            texts = [text for part, _ in batch for text in part]
            try:
                rows = await loop.run_in_executor(self.thread, self.predict, texts)
            except Exception as err:  # every request in the batch gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            start = 0
            for part, future in batch:
                if not future.done():  # its request may have been cancelled meanwhile
                    future.set_result(rows[start : start + len(part)])
                start += len(part)

    def next_batch(self) -> list[tuple[list[str], asyncio.Future]]:
        """Queued parts, oldest first, up to ``max_batch_size`` texts; cancelled ones dropped."""
        batch, size = [], 0
        while self.queue and size + len(self.queue[0][0]) <= self.max_batch_size:
            part, future = self.queue.popleft()
            if not future.cancelled():
                batch.append((part, future))
                size += len(part)
        return batch
