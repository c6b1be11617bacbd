"""Images scored as the moderation model's categories: the rule the service and the evaluate
stage (components.model.image_evaluation) share.

The vision library reads an image (components.model.vision: the text in it by OCR, an NSFW
score, known violating images it copies); the text model is called here. Per category an image
scores the highest of: the text model's score of the text read in it, for ``sexual`` (when the
model has that category) the NSFW classifier's score, and 1.0 for a known image of the
category.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.model.modeling import ModerationModel
from components.model.vision.analyse import ImageFindings
from components.model.vision.decode import ImageLimits
from components.serving_config import ServingConfig

SEXUAL = "sexual"  # the category the NSFW classifier scores
INPUTS = ("text", "nsfw", "known")  # what an image's score in a category can come from


def image_limits(settings: ServingConfig) -> ImageLimits:
    """The service's limits on one image; evaluation decodes under the same."""
    return ImageLimits(max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)


@dataclass(frozen=True)
class ImageScores:
    scores: np.ndarray  # [n, k] in [0, 1], the model's category order
    inputs: np.ndarray  # [n, k] which of INPUTS gave each score (the text's on a tie)


def read_rows(findings: list[ImageFindings]) -> list[int]:
    """The images in which some text was read: only those are scored by the text model."""
    return [row for row, found in enumerate(findings) if found.text.strip()]


def score_image_findings(
    model: ModerationModel, findings: list[ImageFindings], batch_size: int = 64
) -> ImageScores:
    """Each image's scores per category from what was found in it (see the module's rule)."""
    text = np.zeros((len(findings), len(model.categories)))
    read = read_rows(findings)
    if read:
        text[read] = model.predict_scores([findings[row].text for row in read], batch_size)
    return combine_image_scores(text, findings, model.categories)


def combine_image_scores(
    text: np.ndarray, findings: list[ImageFindings], categories: list[str]
) -> ImageScores:
    """The module's rule, given ``text`` [n, k]: the text model's scores of the text read in
    each image (0 for an image in which none was read)."""
    nsfw = np.zeros_like(text)
    if SEXUAL in categories:
        nsfw[:, categories.index(SEXUAL)] = [found.nsfw or 0.0 for found in findings]
    known = np.zeros_like(text)
    for row, found in enumerate(findings):
        for match in found.known:
            if match.category in categories:
                known[row, categories.index(match.category)] = 1.0
    by_input = np.stack([text, nsfw, known])
    return ImageScores(by_input.max(axis=0), np.asarray(INPUTS)[by_input.argmax(axis=0)])
