"""Known violating images, matched by perceptual hash: a re-upload of a removed image (resized,
re-encoded, slightly cropped) is flagged as a copy of it.

A hash is imagehash's pHash, 64 bits: the 8x8 lowest frequencies of the image's DCT at 32x32
in grey, each above or below their median. benchmarks/image_hashes.py compares it with
imagehash's other 64-bit hashes on copies (resized, re-encoded as JPEG, brightened,
watermarked, cropped) of photo tiles, rendered captions and drawn scenes. Within
:data:`MAX_DISTANCE` (8 bits) pHash matches 95-100% of the uncropped copies, 98-100% of those
with 1% off each edge and 93-98% with 2% (5%: 37-42%), and no pair of distinct photo tiles or
scenes (those are 12-16 bits apart at least). The average hash survives crops better (89-93%
at 5%) but matches 0.4% of distinct photo pairs and 8% of distinct captions; the difference
hash is close to pHash on photos but matches 1% of distinct captions (pHash 0.23%); the wavelet
hash does not survive resizing a caption. Captions are pHash's weak spot too: two short lines
of text placed alike on a plain ground can hash within a few bits, so a list should hold
pictures, not captions (OCR and the text model read those). PDQ (Meta's 256-bit hash) was not
measured: it needs a compiled extension, and its hashes would not fit this 64-bit list.

The list is JSON lines of :class:`KnownImage` in a model's folder (:data:`KNOWN_IMAGES_FILE`),
built by ``modpipe images known``; a query is compared with every hash at once (XOR and a
popcount by byte table in numpy: 3 ms for 100,000 hashes, benchmarks/images_throughput.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from components.config_base import CategoryName
from components.data.canonical import read_text, validate_model
from components.errors import ModpipeError
from components.model.vision.decode import ImageLimits, ImageRejected, decode_image_bytes

KNOWN_IMAGES_FILE = "known_images.jsonl"
HASH_PATTERN = r"^[0-9a-f]{16}$"
MAX_DISTANCE = 8  # Hamming bits; see the module docstring
ID_CHARS = 16  # of the file's sha256: the same file added twice is one entry
SHOWN_PROBLEMS = 5
# Set bits of every byte value: a popcount of uint64s as the sum over their 8 bytes.
BYTE_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1)


def image_hash(image: Image.Image) -> str:
    """The image's 64-bit pHash, as 16 hex digits."""
    return str(imagehash.phash(image))


class KnownImage(BaseModel):
    id: str = Field(min_length=1)
    category: CategoryName
    hash: str = Field(pattern=HASH_PATTERN)
    source: str | None = None  # where it came from: the file it was hashed from


class KnownImageMatch(BaseModel):
    id: str
    category: str
    distance: int  # Hamming bits between the two hashes


class KnownImages:
    def __init__(self, images: Iterable[KnownImage]) -> None:
        self.images = list(images)
        self._hashes = np.array([int(image.hash, 16) for image in self.images], dtype=np.uint64)

    def __len__(self) -> int:
        return len(self.images)

    @classmethod
    def load(cls, path: Path) -> KnownImages:
        """The list in ``path``; a line that is not a valid entry, or repeats an id, is a
        ModpipeError naming the file and the line."""
        images, lines = [], {}
        # split on \n only: splitlines() would also break at U+2028 inside a JSON string
        for number, line in enumerate(read_text(Path(path)).split("\n"), start=1):
            if not line.strip():
                continue
            where = f"{path}: line {number}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as err:
                raise ModpipeError(f"{where} is not valid JSON ({err.msg})") from None
            image = validate_model(raw, KnownImage, where)
            if image.id in lines:
                raise ModpipeError(f"{where}: id {image.id!r} is already on line {lines[image.id]}")
            lines[image.id] = number
            images.append(image)
        return cls(images)

    def write(self, path: Path) -> None:
        """The list as JSON lines, replacing ``path`` in one step (a reader never sees half)."""
        path = Path(path)
        partial = path.with_name(f".{path.name}.partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(
                "".join(image.model_dump_json(exclude_none=True) + "\n" for image in self.images),
                encoding="utf-8",
            )
            partial.replace(path)
        except OSError as err:
            raise ModpipeError(f"{path}: cannot write the list ({err.strerror})") from None

    @classmethod
    def from_images(cls, paths: Iterable[Path], category: str) -> KnownImages:
        """Every file in ``paths`` as a known image of ``category``, identified by its content;
        files that are not usable images are one ModpipeError naming them."""
        try:
            TypeAdapter(CategoryName).validate_python(category)
        except ValidationError:
            raise ModpipeError(
                f"category {category!r}: expected lower-case letters, digits and _, "
                "from a letter (a category's name)"
            ) from None
        images, problems = {}, []
        for path in map(Path, paths):
            try:
                data = path.read_bytes()
                hashed = image_hash(decode_image_bytes(data, ImageLimits()))
            except ImageRejected as err:
                problems.append(f"{path} ({err})")
                continue
            except OSError as err:
                problems.append(f"{path} (cannot be read: {err.strerror})")
                continue
            known_id = hashlib.sha256(data).hexdigest()[:ID_CHARS]
            entry = KnownImage(id=known_id, category=category, hash=hashed, source=str(path))
            images.setdefault(known_id, entry)
        if problems:
            shown = "; ".join(problems[:SHOWN_PROBLEMS])
            more = len(problems) - SHOWN_PROBLEMS
            raise ModpipeError(
                f"{len(problems)} files are not usable images: {shown}"
                + (f"; and {more} more" if more > 0 else "")
            )
        return cls(images.values())

    def extended(self, other: KnownImages) -> KnownImages:
        """This list, then the entries of ``other`` whose id it lacks."""
        ids = {image.id for image in self.images}
        return KnownImages(self.images + [image for image in other.images if image.id not in ids])

    def match(
        self, image_or_hash: Image.Image | str, max_distance: int = MAX_DISTANCE
    ) -> list[KnownImageMatch]:
        """The known images within ``max_distance`` bits of the image (or of a hash from
        :func:`image_hash`), nearest first."""
        if not self.images:
            return []
        query = image_or_hash if isinstance(image_or_hash, str) else image_hash(image_or_hash)
        if not re.fullmatch(HASH_PATTERN, query):
            raise ModpipeError(f"{query[:40]!r} is not an image hash (16 hex digits)")
        differing = (self._hashes ^ np.uint64(int(query, 16))).view(np.uint8)
        distances = BYTE_BITS[differing].reshape(-1, 8).sum(axis=1)
        near = np.flatnonzero(distances <= max_distance)
        nearest = near[np.argsort(distances[near], kind="stable")]
        return [
            KnownImageMatch(
                id=self.images[row].id,
                category=self.images[row].category,
                distance=int(distances[row]),
            )
            for row in nearest
        ]
