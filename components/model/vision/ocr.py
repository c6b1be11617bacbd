"""The text in an image, read by RapidOCR: PP-OCRv4 text detection, direction and recognition
models in ONNX, shipped inside the rapidocr-onnxruntime wheel (nothing is downloaded).

An image is first shrunk to at most :data:`MAX_SIDE` pixels on its long side, and detection
runs at that size without enlarging it: RapidOCR's default enlarges the short side to 736
pixels, so a blank 40x2000 strip took its detector 45 s; here it takes 0.02 s. The bound, by
benchmarks/images_throughput.py (one thread, on 2000x1500 and 4000x3000 pictures whose text is
3% or 1.5% of their height): 960 pixels reads them at 0-1.5% character error in 0.4-0.5 s an
image; 1280, 1600 and 2000 read no better (0-4.7%) in 0.6-1.1, 1.0-1.6 and 1.5-2.3 s. Text
under ~10 pixels high is read poorly at any bound (16% character error at 9 pixels).
"""

from __future__ import annotations

import threading

from PIL import Image

MAX_SIDE = 960


class TextReader:
    def __init__(self, threads: int = 1, max_side: int = MAX_SIDE) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self.max_side = max_side
        self._engine = RapidOCR(
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
            max_side_len=max_side,
            det_limit_type="max",  # shrink what is over the bound, never enlarge
            print_verbose=False,
        )
        # RapidOCR keeps per-call state on the engine (the detector's resize step), so calls
        # from several threads take turns; `threads` runs one call on several cores.
        self._lock = threading.Lock()

    def read(self, image: Image.Image) -> str:
        """The image's text lines top to bottom, left to right, one per line; "" if none."""
        if max(image.size) > self.max_side:
            image = image.copy()
            image.thumbnail((self.max_side, self.max_side))
        with self._lock:
            found, _elapsed = self._engine(image)
        return "\n".join(text for _box, text, _score in found or [])
