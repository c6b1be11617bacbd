"""Load shedding and cancellation, per worker: a bounded budget of texts in flight (503 with
``Retry-After`` past it), a deadline on the work (504), and a request whose client has gone is
cancelled, so that its texts leave the batch queue before they are scored.

Without these, 300 connections sending long texts were all queued (p99 3.9 s and climbing) and
when 30 clients gave up on 256-text requests the worker scored their texts for 40 s more.
A text costs one unit per window of the model it fills (about ``chars_per_unit`` characters),
so a long text cannot slip past the budget as one.
"""

from __future__ import annotations

import asyncio
import contextlib
import math

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.problems import Refusal, client_gone, overloaded


class Admission:
    def __init__(
        self, budget: int, chars_per_unit: int, retry_after_s: int, deadline_s: float
    ) -> None:
        self.budget = budget
        self.chars_per_unit = chars_per_unit
        self.retry_after_s = retry_after_s
        self.deadline_s = deadline_s
        self.in_flight = 0  # units of the requests being scored or queued

    def cost(self, texts: list[str]) -> int:
        return sum(max(1, math.ceil(len(text) / self.chars_per_unit)) for text in texts)

    def full(self) -> bool:
        return self.in_flight >= self.budget

    def admit(self, texts: list[str]) -> int:
        """Take the texts' units from the budget; a request bigger than the whole budget goes
        in alone. Give them back with :meth:`release`."""
        cost = self.cost(texts)
        if self.in_flight and self.in_flight + cost > self.budget:
            raise self.overloaded()
        self.in_flight += cost
        return cost

    def release(self, cost: int) -> None:
        self.in_flight -= cost

    def overloaded(self) -> Refusal:
        return overloaded(f"{self.in_flight} of {self.budget} texts in flight", self.retry_after_s)

    async def run(self, app: ASGIApp, scope: Scope, body: bytes, receive: Receive, send: Send):
        """``app`` on the request (its body already read) until it answers, its client goes
        away (cancelled, 499) or the deadline passes (cancelled, 504)."""
        channel = ClientChannel(body, receive)
        answered = False

        async def send_tracked(message: Message) -> None:
            nonlocal answered
            answered = True
            await send(message)

        work = asyncio.ensure_future(app(scope, channel.receive, send_tracked))
        watch = asyncio.ensure_future(channel.watch())
        try:
            done, _ = await asyncio.wait(
                {work, watch}, timeout=self.deadline_s, return_when=asyncio.FIRST_COMPLETED
            )
            if work in done:
                return work.result()
        finally:
            for task in (work, watch):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
        if watch in done:
            refusal = client_gone()
        elif not answered:
            message = f"scoring took over {self.deadline_s:g} s; send fewer or shorter texts"
            refusal = Refusal.one(504, "deadline_exceeded", "server", message)
        else:
            return
        await refusal.send(scope, receive, send)


class ClientChannel:
    """The app's receive channel once the guard has read the body: the body, then (when the
    client hangs up, as :meth:`watch` learns from the server) a disconnect."""

    def __init__(self, body: bytes, receive: Receive) -> None:
        self.body: bytes | None = body
        self.from_client = receive
        self.gone = asyncio.Event()

    async def receive(self) -> Message:
        if self.body is not None:
            body, self.body = self.body, None
            return {"type": "http.request", "body": body, "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def watch(self) -> None:
        while (await self.from_client())["type"] != "http.disconnect":
            pass
        self.gone.set()
