"""Connection limits that BentoML and uvicorn do not offer: header size, count and read time,
concurrent connections, and one metrics label for every unknown path.

uvicorn's httptools protocol reads headers of any size (a 100 MB header took 12 s and 100 MiB
per worker), waits forever for a request that stops half-way through its headers, and BentoML
neither passes ``limit_concurrency`` to uvicorn nor lets a service choose its HTTP protocol.
:func:`install` makes :class:`LimitedHttpProtocol` uvicorn's "auto" protocol in the worker, before
BentoML starts uvicorn; it wraps the app outside BentoML's middleware, so its Prometheus metrics
see unknown paths under one label (each distinct path used to add ~20 series).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import uvicorn.config
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from serving.problems import Refusal, log_refusal

UNKNOWN_PATH = "/unknown-path"  # what metrics and routing see for a path the service lacks


@dataclass(frozen=True)
class ConnectionLimits:
    max_header_bytes: int  # the request line and headers
    max_headers: int
    header_timeout_s: float  # from the connection (or the request's first byte) to its headers
    max_connections: int  # per worker; past it uvicorn answers 503
    known_paths: frozenset[str]


LIMITS: ConnectionLimits | None = None


def bentoml_paths() -> frozenset[str]:
    """What BentoML serves beside a service's APIs: health, metrics, the docs and their files."""
    from bentoml._internal import server  # the docs page's files are beside this module

    files = (Path(server.__file__).parent / "static_content").iterdir()
    system = {"/", "/docs.json", "/schema.json", "/livez", "/healthz", "/readyz", "/metrics"}
    return frozenset(system | {f"/static_content/{file.name}" for file in files})


def install(limits: ConnectionLimits) -> None:
    global LIMITS
    LIMITS = limits
    uvicorn.config.HTTP_PROTOCOLS["auto"] = f"{__name__}:{LimitedHttpProtocol.__name__}"


class LimitedHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.limits = LIMITS
        self.limit_concurrency = self.limits.max_connections
        self.app = checked_requests(self.app, self.limits)
        self.reading_headers = False
        self.header_bytes = 0
        self.header_clock: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self.start_reading_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_reading_headers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.reading_headers:
            self.header_bytes += len(data)
        super().data_received(data)
        # Headers still incomplete past the limit: refuse before buffering more of them.
        if self.reading_headers and self.header_bytes > self.limits.max_header_bytes:
            self.refuse(431, "headers_too_large", headers_too_large(self.limits))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self.reading_headers:  # the next request on a kept-alive connection
            self.start_reading_headers()

    def on_headers_complete(self) -> None:
        self.stop_reading_headers()
        super().on_headers_complete()

    def start_reading_headers(self) -> None:
        self.reading_headers, self.header_bytes = True, 0
        self.header_clock = self.loop.call_later(self.limits.header_timeout_s, self.too_slow)

    def stop_reading_headers(self) -> None:
        self.reading_headers = False
        if self.header_clock is not None:
            self.header_clock.cancel()
            self.header_clock = None

    def too_slow(self) -> None:
        if self.answering():  # a pipelined request waits while the one before is answered
            self.header_clock = self.loop.call_later(self.limits.header_timeout_s, self.too_slow)
            return
        message = f"the request's headers took over {self.limits.header_timeout_s:g} s"
        self.refuse(408, "header_timeout", message)

    def answering(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def refuse(self, status: int, kind: str, message: str) -> None:
        """Answer without the app (there is no complete request to give it) and hang up."""
        self.stop_reading_headers()
        if self.transport.is_closing():
            return
        if self.answering():  # no room for a refusal in the middle of another answer
            self.transport.close()
            return
        response = Refusal.one(status, kind, "header", message).response
        head = [STATUS_LINE[status], b"connection: close\r\n"]
        head += [b"%s: %s\r\n" % (name, value) for name, value in response.raw_headers]
        self.transport.write(b"".join(head) + b"\r\n" + response.body)
        self.transport.close()
        log_refusal(status, "-", "-", [kind], 1)


def header_problem(scope: Scope, limits: ConnectionLimits) -> tuple[str, str] | None:
    """What is wrong with a complete request's headers, as (kind, message), if anything."""
    headers = scope["headers"]
    if len(headers) > limits.max_headers:
        return "too_many_headers", f"the request has over {limits.max_headers} headers"
    size = len(scope.get("raw_path", b"")) + sum(len(n) + len(v) + 4 for n, v in headers)
    if size > limits.max_header_bytes:
        return "headers_too_large", headers_too_large(limits)
    return None


def headers_too_large(limits: ConnectionLimits) -> str:
    return f"the request's headers are over {limits.max_header_bytes:,} bytes"


def checked_requests(app: ASGIApp, limits: ConnectionLimits) -> ASGIApp:
    """``app`` behind the header checks of a complete request (it may have come in one read),
    with the paths it does not serve renamed :data:`UNKNOWN_PATH` (they still get its 404)."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if found := header_problem(scope, limits):
            kind, message = found
            refusal = Refusal.one(431, kind, "header", message, connection="close")
            await refusal.send(scope, receive, send)
            return
        if scope["path"] not in limits.known_paths:
            scope = {**scope, "path": UNKNOWN_PATH, "raw_path": UNKNOWN_PATH.encode()}
        await app(scope, receive, send)

    return guarded
