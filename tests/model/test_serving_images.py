"""`/moderate` with images, in omni-moderation's content parts: the text read in an image is
scored by the text model, a copy of a known image flags its category, remote images come only
from allowed hosts, and every bad image is a 400 naming its part while the server keeps serving.

The tiny model (tests/tiny_bento.py) gets a list of known images, is stored as a second BentoML
model and served with the session's bento (MODPIPE_MODEL_TAG picks it), beside a static file
server on 127.0.0.1 for the remote images.
"""

import shutil
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from image_bytes import data_url, encoded, png_claiming
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont
from servers import free_port, running
from tiny_bento import METADATA, TAXONOMY, serving, settings_env

from components.model.vision.known import KNOWN_IMAGES_FILE, KnownImage, KnownImages, image_hash
from components.model.vision.ocr import TextReader
from components.registry.bentos import save_bento_model, serve_command
from components.serving_config import ServingConfig
from serving.settings import MODEL_TAG_ENV

pytestmark = pytest.mark.slow

CAPTION = "pay me now or else"
LIMITS = ServingConfig(
    workers=1,
    max_images=2,
    max_image_bytes=60_000,
    max_image_pixels=2_000_000,
    image_hosts=["127.0.0.1"],
)


def caption_image(text: str, size=(520, 120), background="white") -> Image.Image:
    image = Image.new("RGB", size, background)
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), 40)
    ImageDraw.Draw(image).text((20, 30), text, fill="black", font=font)
    return image


def known_picture() -> Image.Image:
    """A removed picture: a pattern of coloured blocks, with no text in it."""
    rng = np.random.default_rng(7)
    blocks = rng.integers(0, 255, size=(6, 8, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize((320, 240), Image.Resampling.NEAREST)


def image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """What the static server serves."""
    folder = tmp_path_factory.mktemp("static")
    (folder / "caption.png").write_bytes(encoded(caption_image(CAPTION)))
    return folder


@pytest.fixture(scope="module")
def static_server(files, tmp_path_factory):
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    log = tmp_path_factory.mktemp("static-log") / "http.log"
    with running(command, f"http://127.0.0.1:{port}/caption.png", log, {}, 60, cwd=files):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def image_model_tag(model_dir, bentoml_home, tmp_path_factory) -> str:
    """The tiny model with one known image, `threat`, as a second BentoML model."""
    folder = tmp_path_factory.mktemp("image-model") / "model"
    shutil.copytree(model_dir, folder)
    known = KnownImage(id="removed-7", category="threat", hash=image_hash(known_picture()))
    KnownImages([known]).write(folder / KNOWN_IMAGES_FILE)
    return save_bento_model(folder, METADATA)


@pytest.fixture(scope="module")
def server(bento_tag, image_model_tag, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("serve-images") / "serve.log"
    settings = {**settings_env(LIMITS), MODEL_TAG_ENV: image_model_tag}
    with serving(serve_command(bento_tag, port), port, log, settings) as served:
        yield served


@pytest.fixture(scope="module")
def reader() -> TextReader:
    return TextReader()


def moderate(url: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}/moderate", json=body, timeout=120)


def only_result(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    return result


def test_the_text_in_an_image_is_scored_by_the_text_model(server, reference, reader):
    image = caption_image(CAPTION)
    result = only_result(moderate(server.url, {"input": [image_part(data_url(encoded(image)))]}))
    read = reader.read(image)
    assert "pay" in read.lower()
    expected = reference.predict_scores([read])[0]
    served = [result["category_scores"][name] for name in TAXONOMY.names]
    np.testing.assert_allclose(served, expected, atol=1e-4)
    assert result["category_applied_input_types"] == {name: ["image"] for name in TAXONOMY.names}
    assert "known_images" in result and result["known_images"] == []


def test_texts_and_images_give_one_result_from_both(server, reference):
    parts = [
        {"type": "text", "text": "hello there"},
        image_part(data_url(encoded(known_picture()))),
    ]
    result = only_result(moderate(server.url, {"input": parts}))
    text_scores = reference.predict_scores(["hello there"])[0]
    for i, name in enumerate(TAXONOMY.names):
        assert result["category_scores"][name] >= text_scores[i] - 1e-4
        assert result["category_applied_input_types"][name]
        assert set(result["category_applied_input_types"][name]) <= {"text", "image"}


def test_a_copy_of_a_known_image_flags_its_category(server):
    copy = known_picture().resize((400, 300)).crop((4, 4, 396, 296))
    url = data_url(encoded(copy, "JPEG", quality=70), "image/jpeg")
    result = only_result(moderate(server.url, {"input": [image_part(url)]}))
    assert [match["id"] for match in result["known_images"]] == ["removed-7"]
    assert result["categories"]["threat"] is True and result["flagged"] is True
    assert result["category_applied_input_types"]["threat"] == ["image"]


def test_a_text_answer_says_every_category_came_from_the_text(server):
    result = only_result(moderate(server.url, {"input": "hello there"}))
    assert result["category_applied_input_types"] == {name: ["text"] for name in TAXONOMY.names}
    assert "known_images" not in result


def test_an_image_from_an_allowed_host_is_fetched(server, static_server):
    remote = only_result(
        moderate(server.url, {"input": [image_part(f"{static_server}/caption.png")]})
    )
    inline = only_result(
        moderate(server.url, {"input": [image_part(data_url(encoded(caption_image(CAPTION))))]})
    )
    assert remote["category_scores"] == pytest.approx(inline["category_scores"], abs=1e-4)


TRUNCATED = encoded(caption_image(CAPTION))[:-400]
BAD_IMAGES = {
    "not-base64": ("data:image/png;base64,this is not base64!", "not_base64"),
    "not-an-image": (data_url(b"just some text, no picture"), "not_an_image"),
    "unsupported-format": (
        data_url(encoded(caption_image("tiff", (60, 30)), "TIFF")),
        "unsupported_format",
    ),
    "decompression-bomb": (data_url(png_claiming(40_000, 40_000)), "too_many_pixels"),
    "truncated": (data_url(TRUNCATED), "truncated"),
    "over-the-byte-limit": (data_url(bytes(70_000)), "too_large"),
    "host-not-allowed": ("https://example.org/a.png", "image_host_not_allowed"),
    "not-a-url": ("file:///etc/passwd", "not_a_data_url"),
}


@pytest.mark.parametrize("url, kind", BAD_IMAGES.values(), ids=BAD_IMAGES)
def test_a_bad_image_is_a_400_naming_its_part(server, url, kind):
    parts = [{"type": "text", "text": "hello"}, image_part(url)]
    response = moderate(server.url, {"input": parts})
    assert response.status_code == 400, response.text
    (problem,) = response.json()["detail"]
    assert problem["type"] == kind
    assert problem["loc"][:2] == ["input", 1]
    payload = url.partition(",")[2]
    assert not payload or payload[:16] not in response.text  # the image is never echoed


@pytest.mark.parametrize(
    "parts, kind",
    [
        ([{"type": "video_url", "video_url": {"url": "x"}}], "union_tag_invalid"),
        ([image_part(data_url(encoded(known_picture())))] * 3, "too_many_images"),
    ],
    ids=["unknown-part-type", "too-many-images"],
)
def test_bad_parts_are_a_400(server, parts, kind):
    response = moderate(server.url, {"input": parts})
    assert response.status_code == 400, response.text
    assert response.json()["detail"][0]["type"] == kind


def test_the_server_keeps_serving_after_bad_images(server, static_server):
    missing = moderate(server.url, {"input": [image_part(f"{static_server}/missing.png")]})
    assert (
        missing.status_code == 400 and missing.json()["detail"][0]["type"] == "image_fetch_failed"
    )
    assert moderate(server.url, {"input": "still here"}).status_code == 200
    log = Path(server.log).read_text()
    assert "Traceback" not in log and "base64," not in log
