"""ASGI middleware that checks a POST request's content type and body size before BentoML reads it.

BentoML reads any body whatever its size, and parses any content type but form data as JSON;
a moderation endpoint should answer 415 and 413 instead, in the shape of its other 4xx errors.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON = "application/json"


def error_response(status: int, kind: str, location: str, message: str) -> JSONResponse:
    """A 4xx answer shaped like BentoML's own for a request that fails validation."""
    detail = {"type": kind, "loc": ["header", location], "msg": message}
    return JSONResponse({"error": message, "detail": [detail]}, status_code=status)


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media_type = headers.get("content-type", JSON).split(";")[0].strip().lower()
        if media_type != JSON:
            message = f"send the body as JSON with 'Content-Type: {JSON}', not {media_type!r}"
            await error_response(415, "unsupported_media_type", "content-type", message)(
                scope, receive, send
            )
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self.too_large(scope, receive, send)
            return
        body = await self.read_body(receive)
        if body is None:
            return  # the client went away
        if len(body) > self.max_body_bytes:  # a chunked body declares no length
            await self.too_large(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)

    async def read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or as much as one byte past the limit."""
        chunks, size = [], 0
        while size <= self.max_body_bytes:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"the request body is over the limit of {self.max_body_bytes:,} bytes"
        await error_response(413, "body_too_large", "content-length", message)(scope, receive, send)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that hands the app the body already read, then the client's events."""
    sent = False

    async def receive_again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_again
