"""ONNX Runtime for the moderation model: a runner with the torch model's ``forward_windows``
over the graphs that components.model.onnx_export writes into a model folder.

A packaged model folder holds them under :data:`ONNX_DIR`: ``model.onnx`` (fp32),
``model.int8.onnx`` (dynamic int8), ``manifest.json`` (the
:attr:`~components.model.modeling.ModerationModel.encoder_id` of the torch weights they were
exported from, so an index of embeddings serves whichever backend runs) and ``parity.json``
(how closely each graph scores like torch on held-out texts). The graph takes ``input_ids`` and
``attention_mask`` [windows, tokens] and returns the window ``logits`` [windows, k] and the
attention-masked mean of the last hidden state, ``pooled`` [windows, dim]; a model with an
evidence head adds its token logits, ``evidence`` [windows, tokens, k].

Serving needs this module and ``onnxruntime`` alone: the export's tools stay out of it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
from pydantic import BaseModel, ValidationError

from components.errors import ModpipeError

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
MANIFEST_FILE = "manifest.json"
PARITY_FILE = "parity.json"
INPUTS = ("input_ids", "attention_mask")
OUTPUTS = ("logits", "pooled")
EVIDENCE_OUTPUT = "evidence"


class OnnxManifest(BaseModel):
    encoder_id: str  # of the torch weights exported: the embedding space's name
    embedding_dim: int
    opset: int
    torch: str
    onnxruntime: str
    fused_operators: dict[str, int]  # by ORT's optimiser; no Attention: slower, not wrong


def read_onnx_manifest(directory: Path) -> OnnxManifest:
    """The manifest of the ONNX export in the model folder ``directory``."""
    path = Path(directory) / ONNX_DIR / MANIFEST_FILE
    if not path.is_file():
        raise ModpipeError(
            f"{directory}: no ONNX export ({ONNX_DIR}/{MANIFEST_FILE}); re-package the model "
            "(the package step exports it)"
        )
    try:
        return OnnxManifest.model_validate_json(path.read_text("utf-8"))
    except ValidationError as err:
        raise ModpipeError(f"{path}: {err.errors()[0]['msg']}") from None


class OnnxRunner:
    """An ONNX Runtime session over one exported graph, with the torch model's contract."""

    def __init__(self, directory: Path, tokenizer, int8: bool = False, threads: int | None = None):
        self.manifest = read_onnx_manifest(directory)
        path = Path(directory) / ONNX_DIR / (INT8_FILE if int8 else FP32_FILE)
        if not path.is_file():
            raise ModpipeError(f"{directory}: no {ONNX_DIR}/{path.name}; re-package the model")
        options = onnxruntime.SessionOptions()
        if threads:  # a service worker's share of the cores; None: ORT's default, all of them
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = tokenizer
        self.has_evidence = EVIDENCE_OUTPUT in {o.name for o in self.session.get_outputs()}

    def _feed(self, input_ids: list[list[int]]) -> dict[str, np.ndarray]:
        batch = self.tokenizer.pad({"input_ids": input_ids}, return_tensors="np")
        return {name: batch[name].astype(np.int64) for name in INPUTS}

    def evidence_windows(self, input_ids: list[list[int]]) -> np.ndarray:
        """[windows, tokens, k] evidence logits, padded at the end."""
        return self.session.run([EVIDENCE_OUTPUT], self._feed(input_ids))[0]

    def forward_windows(
        self, input_ids: list[list[int]], embed: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """[windows, k] logits and, when ``embed``, [windows, dim] mean pooled hidden states."""
        feed = self._feed(input_ids)
        if not embed:
            (logits,) = self.session.run(["logits"], feed)
            return logits, np.zeros((len(input_ids), 0), dtype=np.float32)
        logits, pooled = self.session.run(list(OUTPUTS), feed)
        return logits, pooled
