"""The images of a /moderate request (omni-moderation's ``image_url`` content parts): fetched
where the operator allows it, decoded under limits, and analysed, all on a bounded pool of
threads beside the text model's.

The guard decodes every image before the request reaches BentoML (:meth:`ImageIntake.prepare`),
so a bad image is a 400 naming its part and the handler only ever sees decoded images (handed
over in the request's ASGI state). A data URL needs no fetching; an http(s) URL is fetched only
from a host on ``image_hosts``, without redirects (one could lead anywhere) and within the byte
limit. Each worker holds at most ``max_images_in_flight`` images; past that a request with
images gets 503, and text-only requests are untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
from PIL.Image import Image

from components.model.image_scoring import image_limits
from components.model.vision.decode import ImageRejected, decode_data_url, decode_image_bytes
from components.serving_config import ServingConfig
from serving.problems import Refusal, answer, overloaded, problem

IMAGES_STATE = "moderation_images"  # the decoded images, in the request's state


def remote_host(url: str) -> str | None:
    """The host of an http(s) URL; None for anything else (a data URL among them)."""
    parts = urlsplit(url)
    return parts.hostname if parts.scheme in ("http", "https") else None


class ImageIntake:
    """Fetches and decodes the images of requests, at most ``max_images_in_flight`` at a time."""

    def __init__(self, settings: ServingConfig, pool: ThreadPoolExecutor) -> None:
        self.limits = image_limits(settings)
        self.budget = settings.max_images_in_flight
        self.retry_after_s = settings.retry_after_s
        self.timeout_s = settings.image_fetch_timeout_s
        self.pool = pool
        self.in_flight = 0

    @contextlib.asynccontextmanager
    async def prepare(self, request) -> AsyncIterator[dict[str, list[Image]]]:
        """The request's images, decoded, for as long as the request is being served."""
        urls = request.image_urls() if hasattr(request, "image_urls") else []
        if not urls:
            yield {}
            return
        if self.in_flight + len(urls) > self.budget and self.in_flight:
            raise self.overloaded()
        self.in_flight += len(urls)
        try:
            images = [await self.load(url, where) for where, url in urls]
            yield {IMAGES_STATE: images}
        finally:
            self.in_flight -= len(urls)

    async def load(self, url: str, where: list) -> Image:
        """One image, or a 400 naming its part."""
        loop = asyncio.get_running_loop()
        try:
            if remote_host(url) is None:
                return await loop.run_in_executor(self.pool, decode_data_url, url, self.limits)
            data = await self.fetch(url, where)
            return await loop.run_in_executor(self.pool, decode_image_bytes, data, self.limits)
        except ImageRejected as err:
            raise refusal(err.kind, where, str(err)) from None

    async def fetch(self, url: str, where: list) -> bytes:
        """The bytes at an allowed URL (the request model checked its host), at most the limit."""
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as client:
                async with client.stream("GET", url) as response:
                    if response.status_code != 200:
                        message = f"fetching the image gave HTTP {response.status_code}"
                        raise refusal("image_fetch_failed", where, message)
                    return await self.read_limited(response, where)
        except httpx.HTTPError as err:
            message = f"the image could not be fetched ({type(err).__name__})"
            raise refusal("image_fetch_failed", where, message) from None

    async def read_limited(self, response: httpx.Response, where: list) -> bytes:
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.limits.max_bytes:
                message = f"the image is over the limit of {self.limits.max_bytes:,} bytes"
                raise refusal("too_large", where, message)
            chunks.append(chunk)
        return b"".join(chunks)

    def overloaded(self) -> Refusal:
        return overloaded(f"{self.in_flight} of {self.budget} images in flight", self.retry_after_s)


def refusal(kind: str, where: list, message: str) -> Refusal:
    """A 400 about one image part, in the shape of the guard's validation errors."""
    summary = f"the image at {'.'.join(map(str, where))} was refused"
    return Refusal(answer(400, summary, [problem(kind, where, message)]), [kind])
