"""ASGI middleware that checks a POST request before BentoML reads it: its content type (415),
its body's size (413) and upload time (408), strict JSON (400) and the route's request model (400,
with the bounded answers of serving.problems); then admission and a deadline (serving.admission),
and the request's images decoded (serving.images), so that a bad one is a 400 too.

BentoML reads any body whatever its size, parses any content type but form data as JSON (a
missing one too), resolves duplicate keys last-wins in silence, lists every validation error and
logs a traceback for each 4xx. Requests the guard passes are valid, so BentoML's own validation
of them, repeated with the same models, never fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager

from pydantic import BaseModel, ValidationError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.admission import Admission
from serving.problems import Refusal, client_gone

JSON = "application/json"
MAX_OBJECT_KEYS = 64  # in any JSON object of a request: room for every field and category


Prepare = Callable[[BaseModel | None], AbstractAsyncContextManager[dict]]


@contextlib.asynccontextmanager
async def nothing_to_prepare(request: BaseModel | None) -> AsyncIterator[dict]:
    yield {}


class BadJSON(ValueError):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        routes: Mapping[str, type[BaseModel]],
        context: dict,
        max_body_bytes: int,
        body_timeout_s: float,
        admission: Admission,
        prepare: Prepare | None = None,
    ) -> None:
        """``routes`` maps each API's path to its request model, validated with ``context``;
        ``prepare`` readies an admitted request's inputs (its images) for as long as it is
        served, into the request's state, or refuses it."""
        self.app = app
        self.routes = routes
        self.context = context
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.admission = admission
        self.prepare = prepare or nothing_to_prepare

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            body = await self.read(scope, receive)
            request = self.validated(scope["path"], body)
            cost = self.admission.admit(request.texts() if request is not None else [])
        except Refusal as refusal:
            await refusal.send(scope, receive, send)
            return
        try:
            async with self.prepare(request) as prepared:
                scope.setdefault("state", {}).update(prepared)
                await self.admission.run(self.app, scope, body, receive, send)
        except Refusal as refusal:
            await refusal.send(scope, receive, send)
        finally:
            self.admission.release(cost)

    async def read(self, scope: Scope, receive: Receive) -> bytes:
        headers = Headers(scope=scope)
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != JSON:
            given = repr(media_type[:40]) if media_type else "none"
            message = f"send the body as JSON with 'Content-Type: {JSON}' (given: {given})"
            raise Refusal.one(415, "unsupported_media_type", "content-type", message)
        if self.admission.full():  # before reading a byte of the body
            raise self.admission.overloaded()
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise self.too_large()
        try:
            async with asyncio.timeout(self.body_timeout_s):
                body = await read_body(receive, self.max_body_bytes)
        except TimeoutError:
            message = f"the request body did not arrive within {self.body_timeout_s:g} s"
            raise Refusal.one(408, "body_timeout", "body", message, connection="close") from None
        if body is None:
            raise client_gone()
        if len(body) > self.max_body_bytes:  # a chunked body
            raise self.too_large()
        return body

    def validated(self, path: str, body: bytes) -> BaseModel | None:
        """The request as its route's model, or None for a route the guard does not know."""
        model = self.routes.get(path)
        if model is None:
            return None
        try:
            data = strict_json(body)
        except BadJSON as err:
            raise Refusal.one(400, err.kind, "body", str(err)) from None
        try:
            return model.model_validate(data, context=self.context)
        except ValidationError as err:
            raise Refusal.invalid(err, getattr(model, "error_location", None)) from None

    def too_large(self) -> Refusal:
        message = f"the request body is over the limit of {self.max_body_bytes:,} bytes"
        return Refusal.one(413, "body_too_large", "content-length", message)


def strict_json(body: bytes) -> object:
    """JSON as RFC 8259 has it: no NaN or Infinity, and no object with a key twice (which JSON
    parsers resolve differently) or with more than MAX_OBJECT_KEYS keys."""
    try:
        return json.loads(body, object_pairs_hook=unique_keys, parse_constant=no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        position = f" at character {err.pos}" if isinstance(err, json.JSONDecodeError) else ""
        raise BadJSON("json_invalid", f"the body is not valid UTF-8 JSON{position}") from None
    except RecursionError:
        raise BadJSON("json_invalid", "the body's JSON is nested too deeply") from None


def unique_keys(pairs: list[tuple[str, object]]) -> dict:
    if len(pairs) > MAX_OBJECT_KEYS:
        message = f"an object in the body has {len(pairs):,} keys, over {MAX_OBJECT_KEYS}"
        raise BadJSON("too_many_keys", message)
    data = dict(pairs)
    if len(data) < len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise BadJSON("duplicate_key", f"the key {twice[:32]!r} appears twice in one object")
    return data


def no_constant(name: str) -> None:
    raise BadJSON("json_invalid", f"{name} is not a JSON number")


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or as much as one byte past ``limit``; None if the client went away."""
    chunks, size = [], 0
    while size <= limit:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
