"""Choose the perceptual hash of known images, and its match distance, by measurement.

Compares imagehash's 64-bit hashes (pHash, average, difference and wavelet hashes) on three
kinds of picture, each kind's pictures distinct from one another:

1. photo tiles: 128-pixel tiles of the photos that scikit-learn and matplotlib ship, enlarged
   to 384x384 (natural textures);
2. captions: rendered text on a light background, varied in font, size, position and words
   (the hard case: the low frequencies of two such pictures look alike);
3. scenes: coloured ellipses on a coloured background.

For every picture and every transform a re-upload goes through (resized, cropped, re-encoded
as JPEG, brightened, watermarked), the Hamming distance to the original's hash; and the
distances between distinct pictures of a kind: at a cut-off, a copy further than it is missed
and a distinct pair within it is a false match. Prints both per cut-off and writes
runs/benchmarks/image_hashes.json.

    nice .venv/bin/python benchmarks/image_hashes.py
"""

import argparse
import io
import json
import time
from pathlib import Path

import imagehash
import matplotlib
import numpy as np
import sklearn.datasets
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "benchmarks" / "image_hashes.json"
FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf")
PHOTOS = [
    Path(sklearn.datasets.__file__).parent / "images" / "china.jpg",
    Path(sklearn.datasets.__file__).parent / "images" / "flower.jpg",
    Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg",
]
WORDS = (
    "you are an idiot the quick brown fox jumps over a lazy dog buy cheap pills now "
    "claim your free prize today nobody asked when they see this meme me every monday"
).split()
HASHES = {
    "phash": imagehash.phash,
    "ahash": imagehash.average_hash,
    "dhash": imagehash.dhash,
    "whash": imagehash.whash,
}
CUTOFFS = (2, 4, 6, 8, 10, 12)


def photo_tiles() -> list[Image.Image]:
    tiles = []
    for path in PHOTOS:
        photo = Image.open(path).convert("RGB")
        for top in range(0, photo.height - 127, 128):
            for left in range(0, photo.width - 127, 128):
                tile = photo.crop((left, top, left + 128, top + 128))
                tiles.append(tile.resize((384, 384), Image.Resampling.BICUBIC))
    return tiles


def captions(n: int, rng: np.random.Generator) -> list[Image.Image]:
    pictures = []
    for _ in range(n):
        shade = tuple(int(v) for v in rng.integers(200, 256, 3))
        picture = Image.new("RGB", (800, 600), shade)
        draw = ImageDraw.Draw(picture)
        font = ImageFont.truetype(str(FONT_DIR / rng.choice(FONTS)), int(rng.integers(32, 80)))
        for line in range(int(rng.integers(1, 4))):
            words = " ".join(rng.choice(WORDS, size=int(rng.integers(2, 5))))
            top = 40 + line * 180 + int(rng.integers(0, 80))
            draw.text((int(rng.integers(10, 240)), top), words, fill="black", font=font)
        pictures.append(picture)
    return pictures


def scenes(n: int, rng: np.random.Generator) -> list[Image.Image]:
    pictures = []
    for _ in range(n):
        picture = Image.new("RGB", (800, 600), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(picture)
        for _ in range(8):
            left, top = int(rng.integers(0, 800)), int(rng.integers(0, 600))
            right, bottom = left + int(rng.integers(40, 300)), top + int(rng.integers(40, 300))
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            draw.ellipse((left, top, right, bottom), fill=colour)
        pictures.append(picture)
    return pictures


def jpeg(picture: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def cropped(picture: Image.Image, share: float) -> Image.Image:
    """``share`` of each dimension cut off each edge."""
    dx, dy = int(picture.width * share), int(picture.height * share)
    return picture.crop((dx, dy, picture.width - dx, picture.height - dy))


def watermarked(picture: Image.Image) -> Image.Image:
    marked = picture.copy()
    font = ImageFont.truetype(str(FONT_DIR / FONTS[0]), max(12, picture.height // 25))
    ImageDraw.Draw(marked).text(
        (picture.width * 0.6, picture.height * 0.9), "@reposter", fill="gray", font=font
    )
    return marked


def scaled(picture: Image.Image, factor: float) -> Image.Image:
    return picture.resize((int(picture.width * factor), int(picture.height * factor)))


TRANSFORMS = {
    "resize 0.5": lambda p: scaled(p, 0.5),
    "resize 0.25": lambda p: scaled(p, 0.25),
    "resize 2": lambda p: scaled(p, 2),
    "crop 1%": lambda p: cropped(p, 0.01),
    "crop 2%": lambda p: cropped(p, 0.02),
    "crop 5%": lambda p: cropped(p, 0.05),
    "jpeg q30": lambda p: jpeg(p, 30),
    "jpeg q10": lambda p: jpeg(p, 10),
    "resize 0.5 + jpeg q50": lambda p: jpeg(scaled(p, 0.5), 50),
    "brightness +20%": lambda p: ImageEnhance.Brightness(p).enhance(1.2),
    "watermark": watermarked,
}


def bits(hashes: list) -> np.ndarray:
    return np.array([h.hash.flatten() for h in hashes])


def measure(hash_name: str, kind: str, pictures: list[Image.Image]) -> dict:
    fn = HASHES[hash_name]
    originals = bits([fn(p) for p in pictures])
    pairs = np.triu_indices(len(pictures), 1)
    distinct = (originals[:, None, :] != originals[None, :, :]).sum(axis=-1)[pairs]
    copies = {
        name: (bits([fn(transform(p)) for p in pictures]) != originals).sum(axis=1)
        for name, transform in TRANSFORMS.items()
    }
    return {
        "hash": hash_name,
        "kind": kind,
        "pictures": len(pictures),
        "distinct_pairs": len(distinct),
        "distinct_min": int(distinct.min()),
        "distinct_p1": float(np.percentile(distinct, 1)),
        "copies": {
            name: {"mean": float(d.mean()), "max": int(d.max())} for name, d in copies.items()
        },
        "by_cutoff": {
            cutoff: {
                "copies_matched": {name: float(np.mean(d <= cutoff)) for name, d in copies.items()},
                "false_pair_rate": float(np.mean(distinct <= cutoff)),
            }
            for cutoff in CUTOFFS
        },
    }


def print_row(row: dict) -> None:
    copies = ", ".join(f"{n} {c['mean']:.1f}/{c['max']}" for n, c in row["copies"].items())
    print(
        f"\n{row['hash']} on {row['pictures']} {row['kind']}: distinct pairs min "
        f"{row['distinct_min']}, 1st percentile {row['distinct_p1']:.0f} bits; copies "
        f"(mean/max bits): {copies}"
    )
    for cutoff, at in row["by_cutoff"].items():
        matched = at["copies_matched"]
        uncropped = [v for n, v in matched.items() if not n.startswith("crop")]
        print(
            f"  <= {cutoff:2d} bits: copies matched {np.mean(uncropped):.3f} (crops "
            f"{matched['crop 1%']:.2f}/{matched['crop 2%']:.2f}/{matched['crop 5%']:.2f}), "
            f"distinct pairs matched {at['false_pair_rate']:.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=int, default=200)
    parser.add_argument("--scenes", type=int, default=60)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    kinds = {
        "photo tiles": photo_tiles(),
        "captions": captions(args.captions, rng),
        "scenes": scenes(args.scenes, rng),
    }
    rows, started = [], time.perf_counter()
    for hash_name in HASHES:
        for kind, pictures in kinds.items():
            rows.append(measure(hash_name, kind, pictures))
            print_row(rows[-1])
    print(f"\n{time.perf_counter() - started:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
