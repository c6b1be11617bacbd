"""Images per second of each part of the image path, on this machine, and OCR's size bound.

On ``--images`` rendered 800x600 pictures (lines of words in DejaVu fonts, on flat colours or
on photo tiles under a light caption band, as memes are), with 1 and 2 threads each:

- OCR (components.model.vision.ocr.TextReader), one image a call, and its character error
  (components.model.image_scoring.character_error: 0 is every character read back);
- NSFW (nsfw.NsfwScorer), one image a call and all in one batch;
- hashing (known.image_hash), on a pool of that many threads;

and the time to match one hash against a list of ``--known`` random ones (KnownImages.match).

Then OCR's bound (TextReader's ``max_side``): seconds an image and character error, on pictures of
800x600 to 4000x3000 whose text is 3% or 1.5% of their height, and on a 40x2000 strip.
Prints it all and writes runs/benchmarks/images_throughput.json.

    nice .venv/bin/python benchmarks/images_throughput.py
"""

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib
import numpy as np
import sklearn.datasets
from PIL import Image, ImageDraw, ImageFont

from components.model.image_evaluation import character_error
from components.model.vision.known import KnownImage, KnownImages, image_hash
from components.model.vision.nsfw import NsfwScorer
from components.model.vision.ocr import TextReader

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "benchmarks" / "images_throughput.json"
FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf")
SAMPLE_IMAGES = Path(sklearn.datasets.__file__).parent / "images"
PHOTOS = [SAMPLE_IMAGES / "china.jpg", SAMPLE_IMAGES / "flower.jpg"]
WORDS = (
    "you are an idiot the quick brown fox jumps over a lazy dog buy cheap pills now "
    "claim your free prize today nobody asked when they see this meme me every monday"
).split()
BOUNDS = (960, 1280, 1600, 2000)
BOUND_SIZES = ((800, 600), (2000, 1500), (4000, 3000))
TEXT_SHARES = (0.03, 0.015)  # the text's height, of the picture's
PER_BOUND_CASE = 3
MATCH_QUERIES = 200


def rendered(size: tuple[int, int], text_share: float, seed: int) -> tuple[Image.Image, str]:
    """A picture of ``size`` with three lines of words, and its text."""
    rng = np.random.default_rng(seed)
    width, height = size
    if seed % 2:
        photo = Image.open(PHOTOS[seed % len(PHOTOS)]).convert("RGB")
        picture = photo.resize(size, Image.Resampling.BICUBIC)
        band = (0, 0, width, int(height * 0.4))
        ImageDraw.Draw(picture).rectangle(band, fill=(245, 245, 245))
    else:
        picture = Image.new("RGB", size, tuple(int(v) for v in rng.integers(190, 256, 3)))
    draw = ImageDraw.Draw(picture)
    font = ImageFont.truetype(str(FONT_DIR / rng.choice(FONTS)), max(8, int(height * text_share)))
    lines = [" ".join(rng.choice(WORDS, size=4)) for _ in range(3)]
    for number, line in enumerate(lines):
        top = int(height * 0.02) + number * int(font.size * 1.5)
        draw.text((int(width * 0.03), top), line, fill="black", font=font)
    return picture, "\n".join(lines)


def timed_reading(reader: TextReader, pictures: list) -> tuple[float, float]:
    """Seconds an image, and the mean character error."""
    started, errors = time.perf_counter(), []
    for picture, text in pictures:
        errors.append(character_error(text, reader.read(picture)))
    return (time.perf_counter() - started) / len(pictures), round(float(np.mean(errors)), 3)


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 2)


def throughput(pictures: list, threads: int) -> dict:
    images = [picture for picture, _ in pictures]
    reader = TextReader(threads)
    reader.read(images[0])  # warm-up: onnxruntime's first run allocates
    ocr_seconds, ocr_error = timed_reading(reader, pictures)
    scorer = NsfwScorer(threads)
    scorer.score(images[:1])
    started = time.perf_counter()
    for image in images:
        scorer.score([image])
    nsfw_single = time.perf_counter() - started
    started = time.perf_counter()
    scorer.score(images)
    nsfw_batch = time.perf_counter() - started
    with ThreadPoolExecutor(threads) as pool:
        started = time.perf_counter()
        list(pool.map(image_hash, images))
        hashing = time.perf_counter() - started
    return {
        "threads": threads,
        "ocr_images_per_s": rate(1, ocr_seconds),
        "ocr_character_error": ocr_error,
        "nsfw_images_per_s_one_a_call": rate(len(images), nsfw_single),
        "nsfw_images_per_s_one_batch": rate(len(images), nsfw_batch),
        "hash_images_per_s": rate(len(images), hashing),
    }


def match_ms(count: int) -> float:
    """Milliseconds to match one hash against ``count`` random ones."""
    rng = np.random.default_rng(0)
    values = rng.integers(0, 2**63, size=count + MATCH_QUERIES, dtype=np.uint64)
    hashes = [f"{int(value):016x}" for value in values]
    known = KnownImages(
        KnownImage.model_construct(id=str(n), category="spam", hash=h)
        for n, h in enumerate(hashes[:count])
    )
    started = time.perf_counter()
    for query in hashes[count:]:
        known.match(query)
    return round((time.perf_counter() - started) / MATCH_QUERIES * 1000, 3)


def bound_rows() -> list[dict]:
    rows = []
    strip = [(Image.new("RGB", (40, 2000), "white"), "")]
    for bound in BOUNDS:
        reader = TextReader(1, max_side=bound)
        reader.read(strip[0][0])
        for size in BOUND_SIZES:
            for share in TEXT_SHARES:
                cases = [rendered(size, share, seed) for seed in range(PER_BOUND_CASE)]
                seconds, error = timed_reading(reader, cases)
                row = {"max_side": bound, "size": f"{size[0]}x{size[1]}", "text_share": share}
                rows.append(row | {"s_per_image": round(seconds, 3), "character_error": error})
        seconds, _ = timed_reading(reader, strip)
        rows.append({"max_side": bound, "size": "40x2000 blank", "s_per_image": round(seconds, 3)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--known", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    pictures = [rendered((800, 600), 0.07, seed) for seed in range(args.images)]
    started = time.perf_counter()
    rows = [throughput(pictures, threads) for threads in (1, 2)]
    for row in rows:
        print(json.dumps(row))
    matching = {"known": args.known, "ms_per_match": match_ms(args.known)}
    print(json.dumps(matching))
    bounds = bound_rows()
    for row in bounds:
        print(json.dumps(row))
    notes = {
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "seconds": round(time.perf_counter() - started),
    }
    print(json.dumps(notes))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"args": vars(args), "notes": notes, "throughput": rows, "match": matching}
    report["ocr_bound"] = bounds
    args.out.write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
