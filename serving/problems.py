"""How the service says no: 4xx and 5xx answers of a fixed, small size, and one log line each.

An answer lists at most :data:`MAX_ERRORS` problems (with the count of the rest), each message
and each key of its location cut short: a 10 MB body of bad threshold keys once produced a
162 MB answer. Users' texts are never in it (the request models hide inputs in errors), and the
keys they chose appear only truncated. The shape is BentoML's own for a request failing
validation, ``{"error": ..., "detail": [{"type", "loc", "msg"}]}``, plus ``omitted``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from pydantic import ValidationError
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

MAX_ERRORS = 10
MAX_MESSAGE_CHARS = 200
MAX_KEY_CHARS = 32

# Under BentoML's logger, so the server's logging config (INFO, its format) applies to it.
log = logging.getLogger("bentoml.moderation.guard")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def problem(kind: str, loc: Iterable, message: str) -> dict:
    """One entry of ``detail``: string keys of the location truncated, indices kept."""
    where = [part if isinstance(part, int) else clip(str(part), MAX_KEY_CHARS) for part in loc]
    return {"type": kind, "loc": where, "msg": clip(message, MAX_MESSAGE_CHARS)}


def answer(
    status: int,
    summary: str,
    problems: list[dict],
    total: int | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """``problems`` (already at most MAX_ERRORS of them) out of ``total``."""
    total = len(problems) if total is None else total
    body = {"error": summary, "detail": problems[:MAX_ERRORS]}
    if total > len(body["detail"]):
        body["omitted"] = total - len(body["detail"])
    return JSONResponse(body, status_code=status, headers=headers)


class Refusal(Exception):
    """A request the service will not serve: its answer, and what to log about it."""

    def __init__(self, response: JSONResponse, kinds: list[str], total: int = 1) -> None:
        super().__init__(f"{response.status_code}: {', '.join(kinds[:3])}")
        self.response = response
        self.kinds = kinds
        self.total = total

    @classmethod
    def one(cls, status: int, kind: str, where: str, message: str, **headers: str) -> Refusal:
        """About the request as a whole (a header, the body): one problem."""
        entry = problem(kind, [where], message)
        return cls(answer(status, message, [entry], headers=headers or None), [kind])

    @classmethod
    def invalid(
        cls, err: ValidationError, locate: Callable[[tuple], tuple] | None = None
    ) -> Refusal:
        """A 400 for a request that fails its model; pydantic lists every error, we do not.
        ``locate`` rewrites a location as the request's users know it."""
        errors = err.errors(include_url=False, include_context=False, include_input=False)
        locate = locate or (lambda loc: loc)
        problems = [problem(e["type"], locate(e["loc"]), e["msg"]) for e in errors[:MAX_ERRORS]]
        summary = f"{len(errors)} validation error{'s' * (len(errors) > 1)} for {err.title}"
        kinds = [e["type"] for e in errors[: MAX_ERRORS * 10]]
        return cls(answer(400, summary, problems, len(errors)), kinds, len(errors))

    async def send(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = self.response.status_code
        log_refusal(
            status, scope.get("method", "-"), scope.get("path", "-"), self.kinds, self.total
        )
        await self.response(scope, receive, send)


def overloaded(load: str, retry_after_s: int) -> Refusal:
    """A 503 with Retry-After: the worker has ``load`` (what is in flight) and takes no more."""
    message = f"the service is at capacity ({load}); retry after {retry_after_s} s"
    retry = {"retry-after": str(retry_after_s)}
    return Refusal.one(503, "overloaded", "server", message, **retry)


def client_gone() -> Refusal:
    """Nobody reads this answer, but BentoML's middleware waits for one until its own timeout
    (its metrics count it too): nginx's 499, "client closed request"."""
    return Refusal.one(499, "client_gone", "client", "the client left before its answer")


def log_refusal(status: int, method: str, path: str, kinds: Iterable[str], count: int) -> None:
    """One line per refused request: what was wrong, never the input. A 504 is an operator's
    problem (the work is too slow); the rest are the client's or the load's."""
    kinds = sorted(set(kinds))
    listed = ", ".join(kinds[:MAX_ERRORS]) + (", ..." if len(kinds) > MAX_ERRORS else "")
    level = logging.WARNING if status == 504 else logging.INFO
    log.log(level, "%d %s %s: %d problem(s): %s", status, method, clip(path, 64), count, listed)
