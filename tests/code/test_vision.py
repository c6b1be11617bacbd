"""components.model.vision without its models: images decoded under limits (every refusal with
its kind), perceptual hashes of copies and of distinct images, the known-images list and the
`modpipe images known` command that builds it."""

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from image_bytes import data_url, encoded, png_claiming
from PIL import Image, ImageDraw
from repos import make_dvc_repo

from components.data.versioning import recorded_md5
from components.errors import ModpipeError
from components.model.vision.decode import (
    ImageLimits,
    ImageRejected,
    decode_data_url,
    decode_image_bytes,
)
from components.model.vision.known import (
    MAX_DISTANCE,
    KnownImage,
    KnownImages,
    image_hash,
)

LIMITS = ImageLimits()
MODPIPE = [sys.executable, "-m", "workflows.cli"]


def scene(seed: int, size=(640, 480)) -> Image.Image:
    """A picture of coloured ellipses on a coloured ground, different for every seed."""
    rng = np.random.default_rng(seed)
    picture = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(picture)
    for _ in range(8):
        left, top = int(rng.integers(0, size[0])), int(rng.integers(0, size[1]))
        box = (left, top, left + int(rng.integers(40, 300)), top + int(rng.integers(40, 300)))
        draw.ellipse(box, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return picture


NOISE = Image.effect_noise((300, 200), 60).convert("RGB")


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (png_claiming(100_000, 100_000), "too_many_pixels"),  # over Pillow's own limit too
        (png_claiming(7_000, 7_000), "too_many_pixels"),  # 49M: ours, under Pillow's
        (encoded(NOISE)[:-300], "truncated"),
        (encoded(NOISE, "JPEG")[:-300], "truncated"),
        (encoded(NOISE, "TIFF"), "unsupported_format"),
        (encoded(NOISE.resize((64, 64)), "ICO"), "unsupported_format"),
        (np.random.default_rng(0).bytes(5000), "not_an_image"),
        (b"", "not_an_image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not_an_image"),  # a PNG signature, no image
    ],
    ids=[
        "bomb-100000x100000",
        "bomb-7000x7000",
        "truncated-png",
        "truncated-jpeg",
        "tiff",
        "ico",
        "random-bytes",
        "empty",
        "png-signature-only",
    ],
)
def test_bad_image_bytes_are_refused_with_their_kind(data, kind):
    with pytest.raises(ImageRejected) as refused:
        decode_image_bytes(data, LIMITS)
    assert refused.value.kind == kind
    assert isinstance(refused.value, ModpipeError)
    assert "\n" not in str(refused.value)


def test_the_pixel_limit_is_checked_on_the_header_and_is_inclusive():
    picture = encoded(Image.new("RGB", (20, 20)))
    assert decode_image_bytes(picture, ImageLimits(max_pixels=400)).size == (20, 20)
    with pytest.raises(ImageRejected, match="20x20") as refused:
        decode_image_bytes(picture, ImageLimits(max_pixels=399))
    assert refused.value.kind == "too_many_pixels"


def test_the_byte_limit_is_on_the_decoded_size():
    picture = encoded(NOISE)
    assert decode_image_bytes(picture, ImageLimits(max_bytes=len(picture))).size == NOISE.size
    with pytest.raises(ImageRejected, match=f"{len(picture):,} bytes") as refused:
        decode_image_bytes(picture, ImageLimits(max_bytes=len(picture) - 1))
    assert refused.value.kind == "too_large"
    # the URL's payload alone says it is too large: refused before any base64 is decoded
    with pytest.raises(ImageRejected) as refused:
        decode_data_url("data:image/png;base64," + "!" * 4000, ImageLimits(max_bytes=1000))
    assert refused.value.kind == "too_large"


def test_formats_are_the_limits_own_and_read_from_the_bytes():
    tiff = encoded(NOISE, "TIFF")
    allowed = ImageLimits(formats=("TIFF",))
    assert decode_image_bytes(tiff, allowed).size == NOISE.size
    with pytest.raises(ImageRejected) as refused:
        decode_image_bytes(encoded(NOISE), allowed)
    assert refused.value.kind == "unsupported_format"
    assert "PNG" in str(refused.value)
    # a JPEG sent as image/png is decoded as the JPEG it is
    assert decode_data_url(data_url(encoded(NOISE, "JPEG"), "image/png"), LIMITS).size == (300, 200)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://example.org/cat.png", "not_a_data_url"),
        ("data:text/plain;base64,aGVsbG8=", "not_a_data_url"),
        ("data:image/png," + "%89PNG", "not_a_data_url"),  # not base64-encoded
        ("image/png;base64,aGVsbG8=", "not_a_data_url"),
        ("data:image/png;base64,aGVsbG8", "not_base64"),  # no padding
        ("data:image/png;base64,aGVs bG8=", "not_base64"),
        ("data:image/png;base64,é" + "A" * 7, "not_base64"),
        ("data:image/png;base64,aGVsbG8=", "not_an_image"),  # "hello"
    ],
)
def test_bad_data_urls_are_refused_with_their_kind(url, kind):
    with pytest.raises(ImageRejected) as refused:
        decode_data_url(url, LIMITS)
    assert refused.value.kind == kind
    assert "aGVs" not in str(refused.value)


def test_a_data_url_decodes_to_a_loaded_rgb_image():
    image = decode_data_url(data_url(encoded(NOISE)), LIMITS)
    assert image.mode == "RGB" and image.size == (300, 200)
    assert np.array_equal(np.asarray(image), np.asarray(NOISE))


def test_transparency_is_laid_on_white_and_palettes_become_rgb():
    clear = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    assert decode_image_bytes(encoded(clear), LIMITS).getpixel((5, 5)) == (255, 255, 255)
    half = Image.new("LA", (10, 10), (0, 128))
    assert decode_image_bytes(encoded(half), LIMITS).getpixel((5, 5)) == (127, 127, 127)
    palette = NOISE.convert("P")
    assert decode_image_bytes(encoded(palette, "GIF"), LIMITS).mode == "RGB"


def test_an_animation_gives_its_first_frame():
    red, blue = Image.new("RGB", (16, 16), "red"), Image.new("RGB", (16, 16), "blue")
    gif = encoded(red, "GIF", save_all=True, append_images=[blue])
    assert decode_image_bytes(gif, LIMITS).getpixel((8, 8)) == (255, 0, 0)


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: a phone held upright
    tall = decode_image_bytes(encoded(Image.new("RGB", (40, 20)), "JPEG", exif=exif), LIMITS)
    assert tall.size == (20, 40)


def test_a_phone_jpeg_with_a_second_picture_is_a_jpeg():
    mpo = encoded(NOISE, "MPO", save_all=True, append_images=[NOISE.rotate(90)])
    assert Image.open(io.BytesIO(mpo)).format == "MPO"
    assert decode_image_bytes(mpo, LIMITS).size == NOISE.size


def jpeg(picture: Image.Image, quality: int) -> Image.Image:
    return Image.open(io.BytesIO(encoded(picture, "JPEG", quality=quality)))


def crop_edges(picture: Image.Image, share: float) -> Image.Image:
    dx, dy = int(picture.width * share), int(picture.height * share)
    return picture.crop((dx, dy, picture.width - dx, picture.height - dy))


COPIES = {
    "half size": lambda p: p.resize((p.width // 2, p.height // 2)),
    "double size": lambda p: p.resize((p.width * 2, p.height * 2)),
    "1% off each edge": lambda p: crop_edges(p, 0.01),
    "jpeg q30": lambda p: jpeg(p, 30),
    "half size, jpeg q50": lambda p: jpeg(p.resize((p.width // 2, p.height // 2)), 50),
}


@pytest.mark.parametrize("copy", COPIES.values(), ids=COPIES.keys())
def test_a_copy_is_within_the_match_distance(copy):
    original = scene(1)
    listed = KnownImages([KnownImage(id="k1", category="violence", hash=image_hash(original))])
    (match,) = listed.match(copy(original))
    assert (match.id, match.category) == ("k1", "violence")
    assert match.distance <= MAX_DISTANCE


def test_distinct_images_are_not_matched():
    hashes = [image_hash(scene(seed)) for seed in range(12)]
    listed = KnownImages(
        KnownImage(id=str(n), category="violence", hash=h) for n, h in enumerate(hashes)
    )
    for n, h in enumerate(hashes):
        assert [match.id for match in listed.match(h)] == [str(n)]


def test_matches_come_nearest_first_within_the_distance():
    listed = KnownImages(
        KnownImage(id=name, category="spam", hash=value)
        for name, value in [("eight", "00000000000000ff"), ("one", "8000000000000000")]
        + [("none", "0000000000000000"), ("far", "ffffffffffffffff")]
    )
    found = listed.match("0000000000000000")
    assert [(m.id, m.distance) for m in found] == [("none", 0), ("one", 1), ("eight", 8)]
    assert [m.id for m in listed.match("0000000000000000", max_distance=1)] == ["none", "one"]
    assert KnownImages([]).match("0000000000000000") == []
    with pytest.raises(ModpipeError, match="not an image hash"):
        listed.match("xyz")


def test_the_list_round_trips_and_names_a_bad_line(tmp_path):
    listed = KnownImages(
        [
            KnownImage(id="a", category="sexual", hash=image_hash(scene(1)), source="a.png"),
            KnownImage(id="b", category="violence", hash=image_hash(scene(2))),
        ]
    )
    path = tmp_path / "known" / "known_images.jsonl"
    listed.write(path)
    assert KnownImages.load(path).images == listed.images
    good = path.read_text().splitlines()
    bad_lines = {
        "not json": ("{", "line 2 is not valid JSON"),
        "bad hash": (json.dumps({"id": "c", "category": "spam", "hash": "12"}), "line 2: hash"),
        "no category": (json.dumps({"id": "c", "hash": "0" * 16}), "line 2: category"),
        "repeated id": (good[0], "line 2: id 'a' is already on line 1"),
    }
    for line, message in bad_lines.values():
        path.write_text(f"{good[0]}\n{line}\n")
        with pytest.raises(ModpipeError, match=message) as failed:
            KnownImages.load(path)
        assert str(path) in str(failed.value)


def test_from_images_names_every_unusable_file(tmp_path):
    (tmp_path / "one.png").write_bytes(encoded(scene(1)))
    (tmp_path / "same.png").write_bytes(encoded(scene(1)))  # the same file twice: one entry
    (tmp_path / "two.jpg").write_bytes(encoded(scene(2), "JPEG"))
    found = KnownImages.from_images(sorted(tmp_path.iterdir()), "violence")
    assert [image.source for image in found.images] == [
        str(tmp_path / "one.png"),
        str(tmp_path / "two.jpg"),
    ]
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "scan.tif").write_bytes(encoded(scene(3), "TIFF"))
    with pytest.raises(ModpipeError, match="2 files are not usable images") as failed:
        KnownImages.from_images(sorted(tmp_path.iterdir()), "violence")
    assert "notes.txt" in str(failed.value) and "scan.tif (images in TIFF" in str(failed.value)
    with pytest.raises(ModpipeError, match="category 'Bad Name'"):
        KnownImages.from_images([tmp_path / "one.png"], "Bad Name")


def modpipe(*args, cwd):
    return subprocess.run([*MODPIPE, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_the_command_builds_appends_and_refuses_bad_images(tmp_path):
    images = tmp_path / "removed"
    (images / "more").mkdir(parents=True)
    (images / "a.png").write_bytes(encoded(scene(1)))
    (images / "more" / "b.webp").write_bytes(encoded(scene(2), "WEBP"))
    (images / ".DS_Store").write_bytes(b"\x00\x00")  # hidden: not an image of the list
    output = tmp_path / "lists" / "known_images.jsonl"
    built = modpipe("images", "known", images, "--category", "violence", "-o", output, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert "2 known images, 2 added" in built.stdout
    assert {image.category for image in KnownImages.load(output).images} == {"violence"}

    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "a-again.png").write_bytes(encoded(scene(1)))
    (extra / "c.png").write_bytes(encoded(scene(3)))
    args = ["images", "known", extra, "-c", "sexual", "-o", output, "--append"]
    appended = modpipe(*args, cwd=tmp_path)
    assert "3 known images, 1 added" in appended.stdout, appended.stderr
    categories = [image.category for image in KnownImages.load(output).images]
    assert categories == ["violence", "violence", "sexual"]  # a.png kept its first category

    before = output.read_bytes()
    (extra / "broken.png").write_bytes(encoded(scene(4))[:-500])
    refused = modpipe(*args, cwd=tmp_path)
    assert refused.returncode != 0
    assert "broken.png (the image data is truncated" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert output.read_bytes() == before


def test_in_a_dvc_repository_the_list_is_versioned(tmp_path):
    repo = make_dvc_repo(tmp_path)
    (repo / "removed").mkdir()
    (repo / "removed" / "a.png").write_bytes(encoded(scene(1)))
    built = modpipe("images", "known", "removed", "-c", "violence", cwd=repo)
    assert built.returncode == 0, built.stderr
    md5 = recorded_md5(repo / "known-images")
    assert md5 and f"DVC version: {md5} (known-images.dvc" in built.stdout
    assert len(KnownImages.load(repo / "known-images" / "known_images.jsonl")) == 1
    beside = modpipe("images", "known", "removed", "-c", "violence", "-o", "known.jsonl", cwd=repo)
    assert beside.returncode == 0, beside.stderr
    assert f"not versioned: {repo} holds more than the list" in beside.stdout
