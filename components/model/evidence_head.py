"""The evidence head: one logit per category per token on the encoder's last hidden states, so
that a model can say which characters of a text carry each category.

**Training** (``train.evidence_head``, components.model.training) adds its token loss, weighted
by ``train.evidence_weight``, to the classifier's. Token targets come from the rows' rationale
evidence (components.data.rationale): ``rationale.evidence``, or where a row has none there, the
union of its judgements' spans. A token is evidence of a category when any of its characters,
mapped back through the normaliser (:func:`~components.model.normalize.normalize_with_offsets`),
lies in a span of that category. Masking follows the rule for unknown labels:

- a row without any evidence span adds no token loss at all, whatever its labels (most data
  marks no spans: their absence says nothing);
- in a row with spans, a category with spans of its own is known on every token (tokens outside
  its spans are 0); a category without spans is known 0 on every token when the row's label says
  it does not violate it, and masked otherwise (violated or unknown: its evidence is somewhere,
  unmarked);
- an untyped span (:data:`~components.data.rationale.UNTYPED_EVIDENCE`, Toxic Spans' "other
  toxicity") is evidence of the row's broadest category: of those the row is not known not to
  violate, the one with the most positives in the train split.

Like the classifier, training reads each text's first window.

**Saved** as :data:`EVIDENCE_HEAD_FILE` beside the transformers weights, with ``evidence_head:
true`` on the model card (a card without it loads as a model without a head); the ONNX export
adds the head's output to its graphs. The evidence lexicon learnt from the same targets
(components.model.evidence_lexicon) is saved beside it and joined to its scores.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from components.data.canonical import is_missing
from components.data.rationale import UNTYPED_EVIDENCE, EvidenceSpan, parse_rationale
from components.errors import ModpipeError
from components.model.normalize import normalize_with_offsets

EVIDENCE_HEAD_FILE = "evidence_head.safetensors"


class EvidenceHead(torch.nn.Module):
    """[windows, tokens, dim] hidden states -> [windows, tokens, k] evidence logits."""

    def __init__(self, hidden_size: int, categories: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = torch.nn.Dropout(dropout)
        self.linear = torch.nn.Linear(hidden_size, categories)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(hidden))

    def save(self, directory: Path) -> None:
        save_file(self.state_dict(), str(Path(directory) / EVIDENCE_HEAD_FILE))

    @classmethod
    def load(cls, directory: Path, hidden_size: int, categories: int) -> EvidenceHead:
        path = Path(directory) / EVIDENCE_HEAD_FILE
        if not path.is_file():
            raise ModpipeError(
                f"{directory}: the model card names an evidence head, no {path.name}"
            )
        head = cls(hidden_size, categories)
        try:
            head.load_state_dict(load_file(str(path)))
        except RuntimeError:
            raise ModpipeError(
                f"{path}: not an evidence head for this model's categories"
            ) from None
        return head


class WithEvidence(torch.nn.Module):
    """The classifier and its head as one module: one optimizer, one DDP, one state dict."""

    def __init__(self, classifier: torch.nn.Module, head: EvidenceHead):
        super().__init__()
        self.classifier = classifier
        self.head = head

    def forward(self, **inputs) -> SimpleNamespace:
        output = self.classifier(**inputs, output_hidden_states=True)
        return SimpleNamespace(logits=output.logits, evidence=self.head(output.hidden_states[-1]))

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.classifier.get_input_embeddings()


# --- training targets --------------------------------------------------------------------


def _spans(rationale) -> list[EvidenceSpan]:
    if is_missing(rationale):
        return []
    parsed = parse_rationale(rationale)
    return list(parsed.evidence) or [s for j in parsed.judgements for s in j.evidence]


def _broadest(categories: list[str], frequency: np.ndarray, not_violated: np.ndarray) -> str | None:
    candidates = [j for j in np.argsort(-frequency, kind="stable") if not not_violated[j]]
    return categories[candidates[0]] if candidates else None


def _row_targets(
    text: str,
    spans: list[EvidenceSpan],
    categories: list[str],
    broadest: str | None,
    not_violated: np.ndarray,
    normalise: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Running counts of evidence characters of the normalised text per category ([chars + 1,
    k]: a token's slice holds evidence when its counts differ) and the categories covered [k]."""
    origin = np.asarray(normalize_with_offsets(text)[1] if normalise else range(len(text)))
    evidence = np.zeros((len(origin), len(categories)), dtype=bool)
    typed = np.zeros(len(categories), dtype=bool)
    for span in spans:
        category = broadest if span.type in UNTYPED_EVIDENCE else span.type
        if category not in categories:
            continue
        j = categories.index(category)
        evidence[:, j] |= (origin >= span.start) & (origin < span.end)
        typed[j] = True
    counts = np.vstack([np.zeros((1, len(categories)), np.int32), evidence.cumsum(axis=0)])
    return counts, typed | not_violated


class EvidenceTargets:
    """Per train row, where its evidence lies on its normalised text and which categories its
    token loss covers (:func:`_row_targets`); None for a row without spans."""

    def __init__(
        self, rows: list[tuple[np.ndarray, np.ndarray] | None], categories: int, texts: list[str]
    ):
        self.rows = rows
        self.categories = categories
        self.texts = texts

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        categories: list[str],
        targets: np.ndarray,
        known: np.ndarray,
        normalise: bool,
    ) -> EvidenceTargets:
        """``targets``/``known``: the rows' labels as training reads them (LabelledTexts)."""
        not_violated = (known == 1) & (targets == 0)
        frequency = (targets * known).sum(axis=0)
        texts = frame["text"].fillna("").astype(str)
        rationales = frame["rationale"] if "rationale" in frame else [None] * len(frame)
        rows = []
        for i, (text, rationale) in enumerate(zip(texts, rationales, strict=True)):
            try:
                spans = _spans(rationale)
            except ValueError as err:
                raise ModpipeError(f"train row {i + 1}: rationale: {err}") from None
            broadest = _broadest(categories, frequency, not_violated[i])
            rows.append(
                _row_targets(text, spans, categories, broadest, not_violated[i], normalise)
                if spans
                else None
            )
        return cls(rows, len(categories), texts.tolist())

    def batch(self, rows: list[int], offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[windows, tokens, k] token targets and known mask for the first windows of ``rows``,
        tokenised with ``offsets`` [windows, tokens, 2] (special and padding tokens: (0, 0))."""
        offsets = offsets.numpy()
        shape = (*offsets.shape[:2], self.categories)
        targets, known = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        for w, row in enumerate(rows):
            if self.rows[row] is None:
                continue
            counts, covered = self.rows[row]
            starts, ends = offsets[w, :, 0], offsets[w, :, 1]
            tokens = ends > starts
            targets[w, tokens] = counts[ends[tokens]] > counts[starts[tokens]]
            known[w, tokens] = covered
        return torch.from_numpy(targets), torch.from_numpy(known)


# --- scoring -----------------------------------------------------------------------------


def _character_maxima(size: int, offsets: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """[size, k]: each character's highest score over the tokens whose offsets cover it."""
    maxima = np.zeros((size, scores.shape[1]), dtype=np.float32)
    lengths = np.maximum(offsets[:, 1] - offsets[:, 0], 0)
    token = np.repeat(np.arange(len(offsets)), lengths)
    step = np.arange(len(token)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    np.maximum.at(maxima, offsets[token, 0] + step, scores[token])
    return maxima


def character_scores(model, texts: list[str], batch_size: int) -> list[np.ndarray]:
    """Per text, [len(text), k] (``model``: a ModerationModel, whose module imports this one):
    the probability that each character of the original text is evidence of each category, the
    highest over the windows' tokens that cover it, joined to the model's evidence lexicon when
    it has one (components.model.evidence_lexicon). Characters no token covers (whitespace,
    those the normaliser dropped) score 0."""
    if not model.has_evidence_head:
        raise ModpipeError(
            "this model has no evidence head: train it with train.evidence_head: true"
        )
    windows = model.windows(texts, offsets=True)
    order = np.argsort([len(ids) for ids in windows.input_ids], kind="stable")
    window_scores: list[np.ndarray] = [np.zeros(0)] * len(order)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        logits = model.evidence_windows([windows.input_ids[i] for i in chunk])
        for row, i in enumerate(chunk):
            window_scores[i] = logits[row, : len(windows.input_ids[i])]
    read = [normalize_with_offsets(t) if model.normalization else (t, range(len(t))) for t in texts]
    normalised = [np.zeros((len(origin), len(model.categories)), np.float32) for _, origin in read]
    for w, owner in enumerate(windows.owners):
        probabilities = 1.0 / (1.0 + np.exp(-window_scores[w]))
        window = _character_maxima(
            len(normalised[owner]), np.asarray(windows.offsets[w]), probabilities
        )
        np.maximum(normalised[owner], window, out=normalised[owner])
    scores, lexicon = [], model.evidence_lexicon
    for text, (read_text, origin), per_character in zip(texts, read, normalised, strict=True):
        origin = np.asarray(origin, int)
        original = np.zeros((len(text), len(model.categories)), dtype=np.float32)
        np.maximum.at(original, origin, per_character)
        if lexicon is not None:  # on the text as the head read it: normalised once
            original = lexicon.join(original, read_text, origin, model.categories)
        scores.append(original)
    return scores
