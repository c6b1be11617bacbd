"""What an image holds for moderation: its text (OCR), how likely it is sexual (NSFW) and which
known violating images it copies. The text model is the caller's: it scores ``text`` (long
texts in windows), maps ``nsfw`` onto its ``sexual`` category and each match onto the match's
category (components.model.image_scoring).

One analyser can serve several threads at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from components.model.vision.known import KnownImageMatch, KnownImages
from components.model.vision.nsfw import NsfwScorer
from components.model.vision.ocr import TextReader


@dataclass
class ImageFindings:
    text: str  # "" when no text was read, or OCR is off
    nsfw: float | None  # None when the NSFW classifier is off
    known: list[KnownImageMatch]  # nearest first; [] without a list of known images


class ImageAnalyzer:
    """Loads the models once (``threads``: each model's threads per call)."""

    def __init__(
        self, known: KnownImages | None, nsfw: bool = True, ocr: bool = True, threads: int = 1
    ) -> None:
        self.known = known
        self.scorer = NsfwScorer(threads) if nsfw else None
        self.reader = TextReader(threads) if ocr else None

    def analyse(self, image: Image.Image) -> ImageFindings:
        return self.analyse_many([image])[0]

    def analyse_many(self, images: list[Image.Image]) -> list[ImageFindings]:
        """Findings per image, in order; the NSFW classifier sees them in one batch."""
        nsfw = self.scorer.score(images).tolist() if self.scorer else [None] * len(images)
        return [
            ImageFindings(
                text=self.reader.read(image) if self.reader else "",
                nsfw=score,
                known=self.known.match(image) if self.known else [],
            )
            for image, score in zip(images, nsfw, strict=True)
        ]
