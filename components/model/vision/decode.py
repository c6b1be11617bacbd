"""Images from untrusted input, decoded under limits.

Every refusal is an :class:`ImageRejected` whose ``kind`` says what is wrong (the service turns
it into a 400), never a Pillow exception. The format is read from the bytes, not from what the
sender declared, and the size from the header: no pixel is decoded before ``width * height`` is
known to be within the limit, so a decompression bomb is refused on its header. Pillow's own
bomb check stays on behind ours: it refuses images over twice ``Image.MAX_IMAGE_PIXELS`` (179M
pixels) itself, so a ``max_pixels`` above that has no effect.
"""

from __future__ import annotations

import base64
import io
import re
import struct
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageOps

from components.errors import ModpipeError

RejectionKind = Literal[
    "not_base64",
    "not_an_image",
    "unsupported_format",
    "too_many_pixels",
    "truncated",
    "too_large",
    "not_a_data_url",
]
# RFC 2397's header, for images, with parameters (``;charset=...``) allowed before ``;base64``
DATA_URL_HEADER = re.compile(r"data:image/[\w.+-]+(?:;[\w.+-]+=[\w.+-]+)*;base64", re.IGNORECASE)
# A phone's JPEG that carries a preview or depth map is an MPO to Pillow; its first frame is the
# JPEG itself.
FORMAT_ALIASES = {"MPO": "JPEG"}
# What Pillow raises on bytes that only look like an image, reading the header or the pixels
# (UnidentifiedImageError is an OSError).
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 10 * 2**20
    max_pixels: int = 40_000_000
    formats: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "GIF", "BMP")  # Pillow's format names


class ImageRejected(ModpipeError):
    """An image refused: ``kind`` for programs, the message (one line, never the image's bytes)
    for the user."""

    def __init__(self, kind: RejectionKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def decode_data_url(url: str, limits: ImageLimits) -> Image.Image:
    """The image of a ``data:image/<format>;base64,<data>`` URL; see :func:`decode_image_bytes`."""
    header, comma, payload = url.partition(",")
    if not comma or not DATA_URL_HEADER.fullmatch(header):
        raise ImageRejected(
            "not_a_data_url", "expected a data URL: data:image/<format>;base64,<data>"
        )
    if len(payload) // 4 * 3 - 2 > limits.max_bytes:  # the fewest bytes it can decode to
        message = f"the image is over the limit of {limits.max_bytes:,} bytes"
        raise ImageRejected("too_large", message)
    try:
        data = base64.b64decode(payload, validate=True)
    except ValueError:  # binascii.Error, or a character outside ASCII
        raise ImageRejected("not_base64", "the data URL's data is not valid base64") from None
    return decode_image_bytes(data, limits)


def decode_image_bytes(data: bytes, limits: ImageLimits) -> Image.Image:
    """The image in ``data``, fully decoded (the first frame of an animation), upright as its
    EXIF orientation says, in RGB with any transparency laid on white."""
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            "too_large", f"the image is {len(data):,} bytes, over the limit of {limits.max_bytes:,}"
        )
    image = _identified(data, limits)
    try:
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
    except DECODE_ERRORS:
        raise ImageRejected("truncated", "the image data is truncated or damaged") from None
    return _on_white(image)


def _identified(data: bytes, limits: ImageLimits) -> Image.Image:
    """The image opened from its header alone, once its format and size are allowed."""
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:  # over Pillow's own limit, above ours
        raise _too_many_pixels("the image", limits) from None
    except DECODE_ERRORS:
        raise ImageRejected("not_an_image", "the data is not an image in a known format") from None
    found = FORMAT_ALIASES.get(image.format, image.format)
    if found not in limits.formats:
        raise ImageRejected(
            "unsupported_format",
            f"images in {found} are not accepted (accepted: {', '.join(limits.formats)})",
        )
    width, height = image.size
    if width * height > limits.max_pixels:
        raise _too_many_pixels(f"the image ({width}x{height})", limits)
    return image


def _too_many_pixels(what: str, limits: ImageLimits) -> ImageRejected:
    return ImageRejected(
        "too_many_pixels", f"{what} is over the limit of {limits.max_pixels:,} pixels"
    )


def _on_white(image: Image.Image) -> Image.Image:
    """RGB; transparent parts on white, as a viewer shows them: dropping the alpha channel
    would bare whatever colour they hold, often black, which hides black text."""
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return image.convert("RGB")
