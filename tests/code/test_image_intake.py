"""The service's image intake (serving/images.py) in-process: images decoded for as long as a
request is served, at most ``max_images_in_flight`` at a time, and a bad one a 400 naming it."""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from image_bytes import data_url, encoded
from PIL import Image

from components.serving_config import ServingConfig
from serving.images import IMAGES_STATE, ImageIntake
from serving.problems import Refusal

PICTURE = data_url(encoded(Image.new("RGB", (40, 30), "red")))
WHERE = ["input", 1, "image_url", "url"]


def request(*urls: str) -> SimpleNamespace:
    return SimpleNamespace(image_urls=lambda: [(WHERE, url) for url in urls])


@pytest.fixture
def intake():
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield ImageIntake(ServingConfig(max_images_in_flight=2), pool)


def test_images_are_decoded_for_as_long_as_the_request_is_served(intake):
    async def serve() -> tuple:
        async with intake.prepare(request(PICTURE, PICTURE)) as prepared:
            held = intake.in_flight
        return prepared[IMAGES_STATE], held, intake.in_flight

    images, held, after = asyncio.run(serve())
    assert [image.size for image in images] == [(40, 30)] * 2
    assert (held, after) == (2, 0)


def test_images_past_the_budget_are_refused_with_retry_after(intake):
    async def second_request() -> Refusal:
        async with intake.prepare(request(PICTURE, PICTURE)):
            with pytest.raises(Refusal) as refused:
                async with intake.prepare(request(PICTURE)):
                    pass
        return refused.value

    refusal = asyncio.run(second_request())
    assert refusal.response.status_code == 503
    assert refusal.response.headers["retry-after"] == "1"
    assert intake.in_flight == 0


def test_a_request_without_images_takes_nothing(intake):
    async def serve() -> dict:
        async with intake.prepare(SimpleNamespace()) as prepared:
            return prepared

    assert asyncio.run(serve()) == {}


def test_a_bad_image_is_a_400_naming_its_part_and_frees_its_place(intake):
    async def serve() -> None:
        async with intake.prepare(request(PICTURE, data_url(b"no picture here"))):
            pass

    with pytest.raises(Refusal) as refused:
        asyncio.run(serve())
    body = json.loads(refused.value.response.body)
    assert refused.value.response.status_code == 400
    assert body["detail"] == [
        {"type": "not_an_image", "loc": WHERE, "msg": "the data is not an image in a known format"}
    ]
    assert intake.in_flight == 0
