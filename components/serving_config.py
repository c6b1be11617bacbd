"""The moderation service's section of the config: its limits and inference options."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.config_base import CategoryName, Rate, Section


class ServingConfig(Section):
    """The moderation service's limits and inference options.

    The pipeline records them in the bento it builds; ``MODPIPE_SERVE_<NAME>`` environment
    variables (e.g. ``MODPIPE_SERVE_MAX_TEXTS=64``) override them when it is served.
    """

    max_texts: int = Field(default=256, ge=1)  # texts (or /rank items) in one request
    max_text_chars: int = Field(default=10_000, ge=1)
    # None: room for the largest valid request even with every character \u-escaped (JSON).
    max_body_bytes: int | None = Field(default=None, ge=1024)
    # The text model's runtime: ONNX Runtime (exported by the package step; BENCHMARKS.md) or
    # torch. A model packaged without ONNX files is served by torch, with a warning.
    backend: Literal["onnx", "torch"] = "onnx"
    quantize: bool = False  # dynamic int8 for the encoder's linear layers (either backend)
    max_batch_size: int = Field(default=64, ge=1)  # token windows in one model call, at most
    # Processes, each with a copy of the model and cpus/workers torch threads. On 2 CPU cores two
    # one-thread workers served 27% more than one two-thread worker (BENCHMARKS.md).
    workers: int = Field(default=2, ge=1)
    # Admission per worker: texts being scored or queued, a long text counting once per window
    # it fills (serving.admission). Past it a request gets 503 with Retry-After at once; a
    # request bigger than the whole budget is admitted only when nothing else is in flight.
    max_texts_in_flight: int = Field(default=256, ge=1)
    retry_after_s: int = Field(default=1, ge=1)  # the 503's Retry-After
    # Scoring a request (from its last body byte to its answer) past this is dropped and gets
    # 504; a slow client's upload never counts.
    request_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # Connection limits, per worker: a request's line and headers, and the time to send them
    # (431 / 408, then the connection is closed); the time to send the body (408).
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    max_headers: int = Field(default=100, ge=8)
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    body_timeout_s: float = Field(default=10.0, gt=0, le=300)
    max_connections: int = Field(default=512, ge=1)  # past it, new requests get 503
    # /moderate's results also carry `matches`: known violations (the index packaged with the
    # model) at least this similar, per category, so a re-upload of removed content is flagged
    # even when its score is low. None: the cut-offs calibrated with the index.
    matches: bool = False
    match_similarity: Rate | None = None
    match_similarity_by_category: dict[CategoryName, Rate] = {}
    # Images in /moderate (content parts of type image_url): read by OCR and scored by the text
    # model, an NSFW classifier for `sexual`, perceptual hashes against the model's known images.
    images: bool = True
    max_images: int = Field(default=4, ge=1)  # image parts in one request
    max_image_bytes: int = Field(default=10 * 2**20, ge=1024)  # one image, decoded
    max_image_pixels: int = Field(default=25_000_000, ge=1)  # width x height: no bombs
    # Hosts whose http(s) image URLs the service may fetch; any other remote URL gets a 400.
    image_hosts: list[str] = []
    image_fetch_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # Images are decoded and analysed on their own threads, at most this many images per worker
    # at a time (past it, 503): image work never takes the text model's turn.
    image_threads: int = Field(default=1, ge=1)
    max_images_in_flight: int = Field(default=8, ge=1)
    # /moderate's results carry `evidence`, the spans that make the model flag each category
    # (components.model.evidence); by occlusion, up to evidence_max_words texts per flagged one.
    evidence: bool = True
    evidence_max_words: int = Field(default=48, ge=1)
    evidence_max_spans: int = Field(default=5, ge=1)  # per category
    evidence_max_texts: int = Field(default=16, ge=1)  # flagged texts explained per request

    @property
    def body_limit(self) -> int:
        """The largest request body in bytes: every text \\u-escaped, every image in base64."""
        if self.max_body_bytes:
            return self.max_body_bytes
        texts = self.max_texts * (self.max_text_chars * 6 + 256)
        images = self.max_images * (self.max_image_bytes * 4 // 3 + 256) if self.images else 0
        return texts + images + 4096
