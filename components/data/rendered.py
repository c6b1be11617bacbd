"""Posts rendered as pictures, and perturbed copies of pictures: the evaluation set for images.

The pictures are built from real posts (a split's rows), so their labels are the posts' own and
OCR's loss can be read against scoring the same text directly. Each picture varies what a
screenshot or a meme varies: font (matplotlib's DejaVu family), size, line width, background
(flat, gradient or a noisy photo-like texture), noise and JPEG quality. Everything follows from
the seed, so a set is rebuilt byte for byte.
"""

import hashlib
import io
import re
import textwrap
import zlib
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from components.errors import ModpipeError

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
)
FONT_SIZES = (16, 40)  # pixels, inclusive
LINE_WIDTHS = (24, 60)  # characters per line, inclusive
JPEG_QUALITY = (40, 95)
THEMES = (((150, 255), (0, 70)), ((0, 100), (190, 256)))  # (background, ink) channel ranges
IMAGES_DIR = "images"  # inside the dataset folder: DVC versions the pictures with the rows
MAX_RENDERED_CHARS = 600  # longer posts are not screenshots: left out of the set
SAFE_FILE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    """``image`` as it comes back from JPEG at ``quality``; saved with ``quality="keep"`` it
    keeps its quantisation tables, so the file is not a second, harsher generation."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    decoded = Image.open(buffer)
    decoded.load()
    return decoded


def _background(rng: np.random.Generator, size: tuple[int, int], band: tuple) -> np.ndarray:
    """[h, w, 3] float, channels within ``band``: a flat colour, a gradient between two, or a
    colour whose brightness wanders in soft blotches, like a photo."""
    width, height = size
    kind = rng.choice(["flat", "gradient", "texture"])
    if kind == "flat":
        return np.broadcast_to(rng.uniform(*band, 3), (height, width, 3))
    if kind == "gradient":
        start, end = rng.uniform(*band, (2, 3))
        vertical = rng.random() < 0.5
        along = np.linspace(0, 1, height)[:, None] if vertical else np.linspace(0, 1, width)[None]
        return np.broadcast_to(start + along[..., None] * (end - start), (height, width, 3))
    blotches = rng.normal(128, 40, (max(2, height // 32), max(2, width // 32)))
    soft = Image.fromarray(np.clip(blotches, 0, 255).astype(np.uint8)).resize(size, Image.BICUBIC)
    wander = np.asarray(soft.filter(ImageFilter.GaussianBlur(4)), dtype=float) - 128
    return np.clip(rng.uniform(*band, 3) + wander[..., None], *band)


def _wrapped(text: str, width: int) -> list[str]:
    """The post's lines at ``width`` characters, its own line breaks kept."""
    lines = []
    for paragraph in text.splitlines() or [""]:
        lines += textwrap.wrap(paragraph, width) or [""]
    return lines


def render_post(text: str, seed: int) -> Image.Image:
    """``text`` as an RGB picture: font, size, wrapping, background, noise and JPEG quality
    drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    font = ImageFont.truetype(
        str(FONT_DIR / rng.choice(FONTS)), int(rng.integers(*FONT_SIZES, endpoint=True))
    )
    lines = _wrapped(text, int(rng.integers(*LINE_WIDTHS, endpoint=True)))
    margin = int(rng.integers(12, 48))
    line_height = int(font.size * rng.uniform(1.2, 1.6))
    width = int(max(font.getlength(line) for line in lines)) + 2 * margin
    size = (width, line_height * len(lines) + 2 * margin)
    # Dark text on a light picture or light on dark: hard for OCR at times, never unreadable.
    background_band, ink_band = THEMES[rng.integers(len(THEMES))]
    background = _background(rng, size, background_band)
    picture = Image.fromarray(background.astype(np.uint8))
    draw, ink = ImageDraw.Draw(picture), tuple(int(v) for v in rng.integers(*ink_band, 3))
    for number, line in enumerate(lines):
        draw.text((margin, margin + number * line_height), line, font=font, fill=ink)
    noisy = np.asarray(picture, dtype=float) + rng.normal(0, rng.uniform(0, 8), background.shape)
    picture = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    return _jpeg(picture, int(rng.integers(*JPEG_QUALITY, endpoint=True)))


def perturb(image: Image.Image, seed: int, max_crop: float = 0.05) -> Image.Image:
    """A copy of ``image`` as it travels: resized (0.5-1.5x), cropped (up to ``max_crop`` of
    each edge), sometimes turned a little or made brighter or darker, and JPEG re-encoded."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.5, 1.5)
    image = image.convert("RGB").resize(
        (max(8, round(image.width * scale)), max(8, round(image.height * scale))), Image.BILINEAR
    )
    left, top, right, bottom = rng.uniform(0, max_crop, 4)
    image = image.crop(
        (
            round(image.width * left),
            round(image.height * top),
            round(image.width * (1 - right)),
            round(image.height * (1 - bottom)),
        )
    )
    if rng.random() < 0.3:
        image = image.rotate(rng.uniform(-3, 3), resample=Image.BILINEAR, fillcolor=(255, 255, 255))
    if rng.random() < 0.3:
        image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.8, 1.2))
    return _jpeg(image, int(rng.integers(50, 95, endpoint=True)))


def image_file_name(row_id: str) -> str:
    """``<id>.jpg``, or a digest of the id where it is not a safe file name."""
    safe = row_id if SAFE_FILE_NAME.match(row_id) else hashlib.sha256(row_id.encode()).hexdigest()
    return f"{safe[:100]}.jpg"


def write_image_eval_set(frame: pd.DataFrame, dataset_dir: Path, n: int, seed: int) -> pd.DataFrame:
    """Render ``n`` rows of ``frame`` (a sample, by ``seed``, of those whose text is at most
    MAX_RENDERED_CHARS long) into ``dataset_dir/images/<id>.jpg``.

    Returns those rows (their index kept) with ``image`` set to the file's path relative to
    the dataset folder, as a canonical row references it. Each picture's look follows from
    ``seed`` and the row's id alone, so adding rows leaves the others' pictures as they were.
    """
    fits = frame[frame["text"].str.len().le(MAX_RENDERED_CHARS)]
    if fits.empty:
        raise ModpipeError(
            f"no row has a text of at most {MAX_RENDERED_CHARS} characters to render"
        )
    rows = fits.sample(n=min(n, len(fits)), random_state=seed).copy()
    folder = Path(dataset_dir) / IMAGES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for row_id, text in zip(rows["id"].astype(str), rows["text"], strict=True):
        name = image_file_name(row_id)
        picture = render_post(text, zlib.crc32(f"{seed}:{row_id}".encode()))
        picture.save(folder / name, format="JPEG", quality="keep", subsampling="keep")
        paths.append(f"{IMAGES_DIR}/{name}")
    rows["image"] = paths
    return rows
