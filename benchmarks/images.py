"""Images: what reading a post from its picture loses against scoring its text, how well
perceptual hashes find copies of known images, and images/s.

In one run, on one trained text model and its dataset split as the starter preset splits it:
- rendered posts: ``--posts`` test posts (at most MAX_RENDERED_CHARS characters) rendered as
  pictures (components.data.rendered) and scored as the evaluate stage scores image rows
  (components.model.image_scoring: OCR, then the text model; NSFW for ``sexual``) and by their
  text, at thresholds chosen on the validation split by the pipeline's own code: PR-AUC and F1
  both ways, and OCR's character error;
- hash robustness: ``--known`` of those pictures as known images; a perturbed copy of each
  (resized 0.5-1.5x, cropped, sometimes turned or re-lit, JPEG re-encoded:
  components.data.rendered.perturb) matched against the list, and pictures of ``--others``
  other posts (the train split's) against it: match and false-match rates by distance;
- images/s through OCR, NSFW and hashing: runs/benchmarks/images_throughput.json where the vision
  library's benchmark wrote it, else measured here on the rendered pictures (one thread each).

    .venv/bin/python benchmarks/images.py [--model MODEL_DIR --data DATA_DIR] [--posts 300]

Default model: the newest /tmp/quality-benchmark-*/starter/model (benchmarks/quality.py's), with
the data folder beside it; without one, MiniLM fine-tuned here for one epoch on the starter
mixture (benchmarks/mixture.py; slow). Results: runs/benchmarks/images.json.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from mixture import PRESET, encoder_scorer, starter_mixture  # benchmarks/, the script's folder

from components.config import load_config
from components.data.canonical import read_dataset
from components.data.rendered import perturb, write_image_eval_set
from components.data.split import split_dataset, split_frames
from components.model.image_evaluation import decoded_image, evaluate_images
from components.model.metrics import evaluate_scorer
from components.model.modeling import ModerationModel
from components.model.vision.analyse import ImageAnalyzer
from components.model.vision.decode import ImageLimits
from components.model.vision.known import MAX_DISTANCE, KnownImages, image_hash
from components.model.vision.nsfw import NsfwScorer
from components.model.vision.ocr import TextReader

RESULTS = Path("runs/benchmarks/images.json")
THROUGHPUT = Path("runs/benchmarks/images_throughput.json")
DISTANCES = (0, 2, 4, 6, 8, 10, 12, 16, 20)  # Hamming bits, of 64
HASH_BITS = 64
SEED = 13


def model_and_parts(args) -> tuple[ModerationModel, dict, str]:
    """The model, its dataset's splits, and what they are."""
    found = sorted(glob.glob("/tmp/quality-benchmark-*/starter/model"), key=os.path.getmtime)
    if not args.model and not found:
        config, work, _info, card, frame = starter_mixture("images-benchmark-")
        parts = split_frames(frame)
        encoder_scorer(config, parts, card, work / "starter", epochs=1)
        return ModerationModel.load(work / "starter" / "model"), parts, "MiniLM, 1 epoch, here"
    model_dir = Path(args.model or found[-1])
    data = Path(args.data or model_dir.parents[1] / "data")
    split = load_config(PRESET).split
    frame = read_dataset(data)[1]
    frame = split_dataset(frame, split.validation_fraction, split.test_fraction, split.seed)
    return ModerationModel.load(model_dir), split_frames(frame), f"{model_dir} on {data}"


def rendered_posts(model: ModerationModel, parts: dict, rows: pd.DataFrame, work: Path) -> dict:
    """The rendered rows scored through their pictures and by their text, at thresholds chosen
    on the validation split (with the whole evaluation's rules: components.model.metrics)."""
    config = load_config(PRESET).evaluate
    predict = lambda texts: model.predict_scores(texts, config.batch_size)  # noqa: E731
    chosen = evaluate_scorer(predict, {**parts, "test": rows}, model.taxonomy, config)
    started = time.perf_counter()
    metrics = evaluate_images(model, rows, work, chosen["thresholds"], ImageAnalyzer(None))
    seconds = time.perf_counter() - started
    return {**metrics, "seconds": seconds, "images_per_s_end_to_end": len(rows) / seconds}


def pictures(rows: pd.DataFrame, work: Path) -> list:
    pairs = zip(rows["id"], rows["image"], strict=True)
    return [decoded_image(work, row_id, image, ImageLimits()) for row_id, image in pairs]


def distances(listed: KnownImages, image, own_id: str) -> tuple[int, int]:
    """The image's distance to its own entry on the list, and to the nearest entry."""
    matches = listed.match(image, max_distance=HASH_BITS)
    own = next(match.distance for match in matches if match.id == own_id)
    return own, matches[0].distance


def hash_robustness(rows: pd.DataFrame, others: pd.DataFrame, work: Path, known: int) -> dict:
    """Perturbed copies of the known pictures, and pictures of other posts, against the list;
    also copies that are not cropped, to tell what breaks a match."""
    sources = rows.iloc[:known]
    listed = KnownImages.from_images([work / image for image in sources["image"]], "toxic")
    own_ids = [image.id for image in listed.images]  # in the order of the files
    copies, uncropped = [], []
    for number, (picture, own_id) in enumerate(zip(pictures(sources, work), own_ids, strict=True)):
        copies.append(distances(listed, perturb(picture, seed=number), own_id))
        uncropped.append(distances(listed, perturb(picture, number, max_crop=0.0), own_id)[0])
    copy_distances, nearest_to_copies = np.asarray(copies).T
    nearest = np.asarray(
        [listed.match(picture, HASH_BITS)[0].distance for picture in pictures(others, work)]
    )
    return {
        "known": len(listed),
        "others": len(nearest),
        "max_distance": MAX_DISTANCE,
        "match_rate": float(np.mean(copy_distances <= MAX_DISTANCE)),
        "false_match_rate": float(np.mean(nearest <= MAX_DISTANCE)),
        "copies_nearer_another_known": int(np.sum(nearest_to_copies < copy_distances)),
        "copy_match_rate_by_distance": distance_rates(copy_distances),
        "uncropped_copy_match_rate_by_distance": distance_rates(np.asarray(uncropped)),
        "false_match_rate_by_distance": distance_rates(nearest),
        "copy_distance_percentiles": percentiles(copy_distances),
        "nearest_other_distance_percentiles": percentiles(nearest),
    }


def distance_rates(distances: np.ndarray) -> dict[int, float]:
    return {d: float(np.mean(distances <= d)) for d in DISTANCES}


def percentiles(values: np.ndarray) -> dict[str, float]:
    return {f"p{q}": float(np.percentile(values, q)) for q in (0, 5, 25, 50, 75, 95, 100)}


def throughput(rows: pd.DataFrame, work: Path, count: int = 40) -> dict:
    """images/s, one thread each: the vision library's own figures if it measured them."""
    if THROUGHPUT.is_file():
        return {"from": str(THROUGHPUT), **json.loads(THROUGHPUT.read_text())}
    images = pictures(rows.iloc[:count], work)
    reader, scorer = TextReader(threads=1), NsfwScorer(threads=1)
    return {
        "from": "measured here, one thread",
        "images": len(images),
        "ocr_per_s": rate(lambda: [reader.read(image) for image in images], len(images)),
        "nsfw_per_s": rate(lambda: scorer.score(images), len(images)),
        "hash_per_s": rate(lambda: [image_hash(image) for image in images], len(images)),
    }


def rate(work, count: int) -> float:
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


def markdown(results: dict) -> str:
    images, hashes = results["rendered"], results["hashes"]
    text, image = images["text"], images["image"]
    lines = [
        f"{images['rows']} rendered test posts; OCR character error "
        f"{images['ocr_character_error']:.3f}; flags by input {images['flags_by_input']}",
        "",
        "| category | positives | PR-AUC text | PR-AUC image | F1 text | F1 image |",
        "|---|---|---|---|---|---|",
    ]
    sections = [
        (name, text["per_category"][name], image["per_category"][name])
        for name in text["per_category"]
    ]
    for name, by_text, by_image in [*sections, ("**macro**", text["macro"], image["macro"])]:
        cells = [by_text.get("support", "")] + [
            _cell(scored[key]) for key in ("pr_auc", "f1") for scored in (by_text, by_image)
        ]
        lines.append(f"| {name} | " + " | ".join(map(str, cells)) + " |")
    lines += [
        "",
        "| max distance | copies matched | uncropped copies matched | other pictures matched |",
        "|---|---|---|---|",
    ]
    for distance, matched in hashes["copy_match_rate_by_distance"].items():
        uncropped = hashes["uncropped_copy_match_rate_by_distance"][distance]
        false = hashes["false_match_rate_by_distance"][distance]
        lines.append(f"| {distance} | {matched:.1%} | {uncropped:.1%} | {false:.1%} |")
    return "\n".join(lines)


def _cell(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a trained model folder (default: see above)")
    parser.add_argument("--data", help="its dataset folder (default: beside the model's)")
    parser.add_argument("--posts", type=int, default=300, help="test posts rendered")
    parser.add_argument("--known", type=int, default=200, help="pictures on the known list")
    parser.add_argument("--others", type=int, default=300, help="pictures of other posts")
    args = parser.parse_args()
    started = time.perf_counter()
    model, parts, used = model_and_parts(args)
    work = Path(tempfile.mkdtemp(prefix="images-benchmark-"))
    rows = write_image_eval_set(parts["test"], work, args.posts, SEED)
    others = write_image_eval_set(parts["train"], work, args.others, SEED)
    results = {
        "model": used,
        "rendered": rendered_posts(model, parts, rows, work),
        "hashes": hash_robustness(rows, others, work, args.known),
        "throughput": throughput(rows, work),
    }
    results["seconds"] = time.perf_counter() - started
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(markdown(results))
    print(f"in {results['seconds']:.0f} s; details in {RESULTS}")


if __name__ == "__main__":
    main()
