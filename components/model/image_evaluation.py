"""How well images score as the moderation model's categories, on the test rows that reference
one: each scored through its picture (components.model.image_scoring) and, for comparison, by
its own text, at the same thresholds: what the picture loses (or adds) against the text.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pandas as pd
from PIL.Image import Image

from components.data.canonical import image_path
from components.errors import ModpipeError
from components.model.image_scoring import INPUTS, score_image_findings
from components.model.metrics import compute_metrics, label_matrix
from components.model.modeling import ModerationModel
from components.model.vision.analyse import ImageAnalyzer, ImageFindings
from components.model.vision.decode import ImageLimits, ImageRejected, decode_image_bytes

IMAGE_BATCH = 32  # images decoded and analysed together


def decoded_image(dataset_dir: Path, row_id, image: str, limits: ImageLimits) -> Image:
    """A row's image, decoded under ``limits``; a refused one names its row."""
    path = image_path(dataset_dir, row_id, image)
    try:
        return decode_image_bytes(path.read_bytes(), limits)
    except ImageRejected as err:
        raise ModpipeError(f"{dataset_dir}: row {row_id!r}: image {image!r}: {err}") from None


def analyse_rows(
    analyzer: ImageAnalyzer, rows: pd.DataFrame, dataset_dir: Path, limits: ImageLimits
) -> list[ImageFindings]:
    """What is in each row's image, IMAGE_BATCH images at a time: a split's images are never
    all in memory at once."""
    findings = []
    for start in range(0, len(rows), IMAGE_BATCH):
        batch = rows.iloc[start : start + IMAGE_BATCH]
        pairs = zip(batch["id"], batch["image"], strict=True)
        findings += analyzer.analyse_many(
            [decoded_image(dataset_dir, row_id, image, limits) for row_id, image in pairs]
        )
    return findings


def character_error(reference: str, read: str) -> float:
    """How much of ``reference`` OCR got wrong: 1 - difflib's similarity of the two, with
    whitespace runs made single spaces (line breaks are the picture's, not the post's)."""
    reference, read = " ".join(reference.split()), " ".join(read.split())
    return 1.0 - difflib.SequenceMatcher(None, reference, read, autojunk=False).ratio()


def evaluate_images(
    model: ModerationModel,
    rows: pd.DataFrame,
    dataset_dir: Path,
    thresholds: dict[str, float],
    analyzer: ImageAnalyzer,
    limits: ImageLimits = ImageLimits(),
    batch_size: int = 64,
) -> dict:
    """Metrics of ``rows`` (each with an image in ``dataset_dir``) scored through their images
    and by their text, at the same thresholds.

    Returns ``{"rows", "image", "text", "flags_by_input", "ocr_character_error"}``: ``image``
    and ``text`` as :func:`compute_metrics` gives them; ``flags_by_input``: how many
    (row, category) flags each input gave; ``ocr_character_error``: the mean over rows.
    """
    categories = model.categories
    findings = analyse_rows(analyzer, rows, dataset_dir, limits)
    scored = score_image_findings(model, findings, batch_size)
    y_true = label_matrix(rows, categories)
    text_scores = model.predict_scores(rows["text"].tolist(), batch_size)
    flagged = scored.scores >= np.asarray([thresholds[name] for name in categories])
    errors = [character_error(t, f.text) for t, f in zip(rows["text"], findings, strict=True)]
    return {
        "rows": len(rows),
        "image": compute_metrics(y_true, scored.scores, categories, thresholds),
        "text": compute_metrics(y_true, text_scores, categories, thresholds),
        "flags_by_input": {name: int((flagged & (scored.inputs == name)).sum()) for name in INPUTS},
        "ocr_character_error": float(np.mean(errors)),
    }
