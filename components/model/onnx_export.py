"""Export a moderation model for ONNX Runtime: its encoder and head as one ONNX graph in fp32
and dynamically quantised to int8 (components.model.onnx_runtime runs them), and the check that
they score as torch does.

The graph is exported with torch's dynamo exporter (needs ``onnxscript``): the legacy
TorchScript one (``dynamo=False``) traces transformers 5's BERT wrongly (logits off by tens,
even on the traced input). ``token_type_ids`` are left out, as the torch path leaves them out.
ORT's BERT optimiser then fuses each layer's attention, layer norms and GELU into single
operators, which is what makes the graph faster than torch (BENCHMARKS.md, "ONNX Runtime").
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.optimizer import optimize_model

from components.errors import ModpipeError
from components.model.mean_pooling import MeanPooledClassifier, mean_pooled
from components.model.metrics import compute_metrics
from components.model.modeling import ModerationModel
from components.model.onnx_runtime import (
    EVIDENCE_OUTPUT,
    FP32_FILE,
    INPUTS,
    INT8_FILE,
    MANIFEST_FILE,
    ONNX_DIR,
    OUTPUTS,
    PARITY_FILE,
    OnnxManifest,
)

OPSET = 18
FP32_TOLERANCE = 1e-4  # max |score difference| from torch that an fp32 graph may show
# Two windows of different lengths to trace with, so that neither axis is fixed to one size.
EXAMPLE_TEXTS = ["an example", "and a longer example text, with a few more words in it"]


class _WindowGraph(torch.nn.Module):
    """What the graph computes: the torch model's ``forward_windows(..., embed=True)`` and,
    with an evidence head, its ``evidence_windows``."""

    def __init__(self, model: torch.nn.Module, evidence_head: torch.nn.Module | None):
        super().__init__()
        self.model = model
        self.evidence_head = evidence_head
        self.mean_pooled = isinstance(model, MeanPooledClassifier)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        pooling = {"pooling_mask": attention_mask} if self.mean_pooled else {}
        output = self.model(
            input_ids=input_ids,
            attention_mask=_additive_mask(attention_mask),
            output_hidden_states=True,
            **pooling,
        )
        hidden = output.hidden_states[-1]
        outputs = (output.logits, mean_pooled(hidden, attention_mask))
        return outputs if self.evidence_head is None else (*outputs, self.evidence_head(hidden))


def _additive_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """BERT's [windows, 1, tokens, tokens] additive mask, built as transformers 4 built it: the
    pattern ORT's optimiser traces back to the graph's 2-D mask to fuse attention (transformers
    5 builds its own mask in ops it does not recognise, and takes a 4-D one as it is)."""
    windows, tokens = attention_mask.shape
    expanded = attention_mask.unsqueeze(1).unsqueeze(2).expand(windows, 1, tokens, tokens)
    inverted = 1.0 - expanded.float()
    return inverted.masked_fill(inverted.bool(), torch.finfo(torch.float32).min)


def export_onnx(model: ModerationModel, directory: Path) -> Path:
    """Write ``directory/onnx/``: the fp32 graph, its int8 quantisation and the manifest."""
    folder = Path(directory) / ONNX_DIR
    folder.mkdir(parents=True, exist_ok=True)
    fused = _export_fp32(model, folder / FP32_FILE)
    # After the fusions, so that whole fused operators (Attention included) are quantised.
    quantize_dynamic(
        folder / FP32_FILE, folder / INT8_FILE, weight_type=QuantType.QInt8, per_channel=True
    )
    manifest = OnnxManifest(
        encoder_id=model.encoder_id,
        embedding_dim=model.embedding_dim,
        opset=OPSET,
        torch=torch.__version__,
        onnxruntime=onnxruntime.__version__,
        fused_operators={name: count for name, count in fused.items() if count},
    )
    (folder / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2) + "\n", "utf-8")
    return folder


def _export_fp32(model: ModerationModel, path: Path) -> dict[str, int]:
    """The graph, exported and fused by ORT's BERT optimiser; returns the fused operators."""
    encoder = model.model.eval()
    head = model.evidence_head.eval() if model.evidence_head is not None else None
    outputs = [*OUTPUTS, EVIDENCE_OUTPUT] if head is not None else list(OUTPUTS)
    windows = model.windows(EXAMPLE_TEXTS).input_ids
    example = model.tokenizer.pad({"input_ids": windows}, return_tensors="pt")
    example = example.to(next(encoder.parameters()).device)
    axes = {0: torch.export.Dim("windows"), 1: torch.export.Dim("tokens")}
    attention = encoder.config._attn_implementation
    encoder.set_attn_implementation("eager")  # SDPA exports as ops the fusion does not match
    try:
        with tempfile.TemporaryDirectory() as scratch:
            exported = Path(scratch) / "exported.onnx"
            torch.onnx.export(
                _WindowGraph(encoder, head).eval(),
                (example["input_ids"], example["attention_mask"]),
                str(exported),
                input_names=list(INPUTS),
                output_names=outputs,
                dynamic_shapes={name: axes for name in INPUTS},
                opset_version=OPSET,
                dynamo=True,
                external_data=False,  # one self-contained file per graph
                optimize=False,  # onnxscript's optimiser merges the mask's ops past recognition
                verbose=False,
            )
            fused = optimize_model(
                str(exported),
                model_type="bert",
                num_heads=encoder.config.num_attention_heads,
                hidden_size=encoder.config.hidden_size,
            )
    finally:
        encoder.set_attn_implementation(attention)
    fused.save_model_to_file(str(path))
    return fused.get_fused_operator_statistics()


def check_parity(
    directory: Path, texts: list[str], y_true: np.ndarray | None = None, batch_size: int = 64
) -> dict:
    """Score ``texts`` with the torch model in ``directory`` and with each of its ONNX graphs;
    write and return the largest differences (and, given labels [n, k], the macro PR-AUC of
    torch and int8). Raises ModpipeError when the fp32 graph is off by more than
    :data:`FP32_TOLERANCE`: it must score as torch does, int8 only close to it. A model with an
    evidence head has its characters' evidence scores compared too."""
    torch_model = ModerationModel.load(directory, device="cpu")
    scores, vectors = torch_model.predict_with_embeddings(texts, batch_size)
    evidence = _evidence(torch_model, texts, batch_size)
    result = {"texts": len(texts)}
    for name, int8 in (("fp32", False), ("int8", True)):
        onnx_model = ModerationModel.load(directory, backend="onnx", int8=int8)
        onnx_scores, onnx_vectors = onnx_model.predict_with_embeddings(texts, batch_size)
        result[name] = {
            "max_score_diff": float(np.abs(onnx_scores - scores).max(initial=0.0)),
            "max_embedding_diff": float(np.abs(onnx_vectors - vectors).max(initial=0.0)),
        }
        if evidence is not None:
            difference = np.abs(_evidence(onnx_model, texts, batch_size) - evidence)
            result[name]["max_evidence_diff"] = float(difference.max(initial=0.0))
        if y_true is not None:
            result[name]["macro_pr_auc"] = _macro_pr_auc(torch_model, y_true, onnx_scores)
    if y_true is not None:
        torch_pr_auc = _macro_pr_auc(torch_model, y_true, scores)
        result["torch"] = {"macro_pr_auc": torch_pr_auc}
        result["int8"]["macro_pr_auc_change"] = _change(
            result["int8"]["macro_pr_auc"], torch_pr_auc
        )
    path = Path(directory) / ONNX_DIR / PARITY_FILE
    path.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    worst = max(result["fp32"]["max_score_diff"], result["fp32"].get("max_evidence_diff", 0.0))
    if worst > FP32_TOLERANCE:
        raise ModpipeError(
            f"{path}: the fp32 ONNX graph scores up to {worst:.2e} "
            f"away from torch (at most {FP32_TOLERANCE:.0e})"
        )
    return result


def _evidence(model: ModerationModel, texts: list[str], batch_size: int) -> np.ndarray | None:
    """Every character's evidence scores, all texts end to end; None without a head."""
    if not model.has_evidence_head:
        return None
    per_text = model.evidence_scores(texts, batch_size)
    return np.concatenate([np.zeros((0, len(model.categories))), *per_text])


def _macro_pr_auc(model: ModerationModel, y_true: np.ndarray, scores: np.ndarray) -> float | None:
    metrics = compute_metrics(y_true, scores, model.categories, model.thresholds)
    return metrics["macro"]["pr_auc"]


def _change(value: float | None, reference: float | None) -> float | None:
    return None if value is None or reference is None else value - reference
