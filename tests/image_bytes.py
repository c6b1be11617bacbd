"""Image bytes for the tests: encoded pictures, data URLs and crafted files (a decompression
bomb's header). Importable from every test module, as servers.py is."""

import base64
import io
import struct
import zlib

from PIL import Image


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def png_claiming(width: int, height: int) -> bytes:
    """An 8x8 PNG whose header (with a valid checksum) says it is ``width`` x ``height``."""
    data = encoded(Image.new("RGB", (8, 8)))
    chunk = b"IHDR" + struct.pack(">II", width, height) + data[24:29]
    return data[:12] + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[33:]
