"""Evidence: which words of a text make the model flag it, as character spans of the text.

Both ways of finding it give the same thing, a per-character score matrix [len(text), k] in the
caller's own offsets, and share one span extractor (:func:`evidence_spans`):

- a model with an evidence head (``model.has_evidence_head``) scores every character itself
  (``model.evidence_scores``), the probability that it is evidence of each category;
- any other model, on torch or ONNX Runtime alike, is explained by occlusion (leave-one-word-out
  erasure, Li, Monroe and Jurafsky 2016, "Understanding Neural Networks through Representation
  Erasure"): each word is erased in turn and the text scored again; a word's score in a category
  is the drop of the category's logit when it is erased, over the largest drop of any word of
  the text (so the top word scores 1). Logits, not probabilities: a confident score hardly
  moves in probability when one of two insults is erased. When no word lowers the logit by
  :data:`MIN_LOGIT_DROP`, the category has no evidence. (A probability of 1.0 to float
  precision, a logit over ~17, cannot be explained this way; trained models rarely get there.)

A span is a run of consecutive words whose best character reaches :data:`CUTOFF`, scored by its
best word.

Words are found on the normalised text (components.model.normalize) and mapped back to the
original, so a word with a zero-width character or a look-alike letter inside is one word, and
offsets are exact Python slices of the text as given.

Occlusion's cost is bounded: only texts with a flagged category are explained, and per text at
most ``max_words`` words are erased, so a flagged text costs at most ``max_words`` extra short
texts to score. A text of more words is first cut into overlapping pieces of ``max_words``
words, scored (one short text each); each flagged category is explained in its best-scoring
piece only. The work comes in rounds of texts to score (:func:`explain_steps`), so that a
caller can send them through its own batching (the service's micro-batcher) or score them in
process (:func:`explain`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np

from components.model.normalize import WORD, normalize_with_offsets, original_span

CUTOFF = 0.5  # of a character's score: the head's probability, occlusion's relative drop
MIN_LOGIT_DROP = 0.1  # occlusion: when erasing no word lowers the logit this much, no evidence
MAX_WORDS = 48
MAX_SPANS = 5

Steps = Generator[list[str], np.ndarray, list[dict[str, list["Span"]]]]


@dataclass(frozen=True)
class Span:
    """``text[start:end]`` is evidence, with its ``score`` (see the module's docstring)."""

    start: int
    end: int
    score: float


def words_of(text: str) -> list[tuple[int, int]]:
    """The (start, end) of each word of ``text``, found on its normalised form."""
    normalised, origin = normalize_with_offsets(text)
    return [original_span(origin, *match.span()) for match in WORD.finditer(normalised)]


def evidence_spans(
    words: list[tuple[int, int]], scores: np.ndarray, cutoff: float, max_spans: int = MAX_SPANS
) -> list[Span]:
    """Runs of consecutive words whose best character score reaches ``cutoff``, each scored by
    its best word; the ``max_spans`` best, in text order. ``scores``: [len(text)]."""
    spans: list[Span] = []
    previous_kept = False
    for start, end in words:
        score = float(scores[start:end].max()) if end > start else 0.0
        kept = score >= cutoff
        if kept and previous_kept:
            last = spans[-1]
            spans[-1] = Span(last.start, end, max(last.score, score))
        elif kept:
            spans.append(Span(start, end, score))
        previous_kept = kept
    best = sorted(spans, key=lambda span: -span.score)[:max_spans]
    return sorted(best, key=lambda span: span.start)


@dataclass(frozen=True)
class _Context:
    """Words ``first:last`` of a text, erased one at a time inside ``text[start:end]``."""

    row: int
    start: int
    end: int
    first: int
    last: int


def _pieces(row: int, words: list[tuple[int, int]], max_words: int) -> list[_Context]:
    """Overlapping runs of ``max_words`` words (by a quarter) covering all of them."""
    step = max(1, max_words * 3 // 4)
    pieces = []
    for first in range(0, len(words), step):
        last = min(first + max_words, len(words))
        pieces.append(_Context(row, words[first][0], words[last - 1][1], first, last))
        if last == len(words):
            break
    return pieces


def _erased(text: str, context: _Context, words: list[tuple[int, int]]) -> list[str]:
    """The context's text with each of its words erased in turn."""
    piece = text[context.start : context.end]
    return [
        piece[: start - context.start] + piece[end - context.start :]
        for start, end in words[context.first : context.last]
    ]


def occlusion_steps(
    texts: list[str], scores: np.ndarray, flagged: np.ndarray, max_words: int
) -> Generator[list[str], np.ndarray, list[np.ndarray]]:
    """Per text, [len(text), k] word shares of the flagged categories' scores (zero elsewhere),
    by erasing words; yields the texts it needs scored ([n, k] sigmoid scores come back)."""
    words = [words_of(text) for text in texts]
    contexts: dict[tuple[int, int], _Context] = {}  # (row, column) -> where it is explained
    bases: dict[_Context, np.ndarray] = {}
    long_rows = [row for row in range(len(texts)) if len(words[row]) > max_words]
    pieces = [_pieces(row, words[row], max_words) for row in long_rows]
    flat = [piece for row_pieces in pieces for piece in row_pieces]
    if flat:
        piece_scores = yield [texts[p.row][p.start : p.end] for p in flat]
        bases.update(zip(flat, piece_scores, strict=True))
    for row, column in zip(*np.nonzero(flagged), strict=True):
        if not words[row]:
            continue
        if len(words[row]) <= max_words:
            whole = _Context(row, 0, len(texts[row]), 0, len(words[row]))
            bases[whole] = scores[row]
            contexts[row, column] = whole
        else:
            row_pieces = pieces[long_rows.index(row)]
            contexts[row, column] = max(row_pieces, key=lambda p: bases[p][column])
    chosen = list(dict.fromkeys(contexts.values()))
    variants = [_erased(texts[c.row], c, words[c.row]) for c in chosen]
    erased_scores = (yield [text for group in variants for text in group]) if chosen else []
    by_context, offset = {}, 0
    for context, group in zip(chosen, variants, strict=True):
        by_context[context] = np.asarray(erased_scores[offset : offset + len(group)])
        offset += len(group)
    shares = [np.zeros((len(text), flagged.shape[1]), dtype=np.float32) for text in texts]
    for (row, column), context in contexts.items():
        drop = _logit(bases[context][column]) - _logit(by_context[context][:, column])
        if drop.max() < MIN_LOGIT_DROP:
            continue  # no single word matters: the evidence is spread, or redundant
        share = np.clip(drop / drop.max(), 0.0, 1.0)
        for (start, end), value in zip(
            words[row][context.first : context.last], share, strict=True
        ):
            shares[row][start:end, column] = value
    return shares


def _logit(probabilities) -> np.ndarray:
    clipped = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.log(clipped) - np.log1p(-clipped)


def explain_steps(
    model,
    texts: list[str],
    scores: np.ndarray,
    thresholds: dict[str, float] | None = None,
    max_words: int = MAX_WORDS,
    max_spans: int = MAX_SPANS,
) -> Steps:
    """:func:`explain`'s work as a generator: it yields lists of texts to have scored, is sent
    their [n, k] scores, and returns the evidence (see :func:`explain`)."""
    cutoffs = thresholds or model.thresholds
    columns = np.array([cutoffs[name] for name in model.categories])
    flagged = np.asarray(scores) >= columns
    rows = [row for row in range(len(texts)) if flagged[row].any()]
    chosen = [texts[row] for row in rows]
    head = getattr(model, "has_evidence_head", False)
    if head:
        matrices = model.evidence_scores(chosen) if chosen else []
    else:
        matrices = yield from occlusion_steps(chosen, scores[rows], flagged[rows], max_words)
    evidence: list[dict[str, list[Span]]] = [{} for _ in texts]
    for row, matrix in zip(rows, matrices, strict=True):
        words = words_of(texts[row])
        for column in np.nonzero(flagged[row])[0]:
            name = model.categories[column]
            evidence[row][name] = evidence_spans(words, matrix[:, column], CUTOFF, max_spans)
    return evidence


def advance(steps: Steps, scores: np.ndarray | None = None):
    """One step of :func:`explain_steps`: ``(texts to score, None)``, or ``(None, evidence)``
    when it is done. The first call sends no scores."""
    try:
        return (next(steps) if scores is None else steps.send(scores)), None
    except StopIteration as done:
        return None, done.value


def explain(
    model,
    texts: list[str],
    scores: np.ndarray | None = None,
    thresholds: dict[str, float] | None = None,
    score_texts: Callable[[list[str]], np.ndarray] | None = None,
    max_words: int = MAX_WORDS,
    max_spans: int = MAX_SPANS,
) -> list[dict[str, list[Span]]]:
    """For each text, for each category whose score reaches its threshold (the model's, or
    ``thresholds``), up to ``max_spans`` evidence spans; unflagged categories have no key.

    ``scores``: the texts' [n, k] scores when already known; ``score_texts``: how to score texts
    (default: ``model.predict_scores``).
    """
    score_texts = score_texts or model.predict_scores
    if scores is None:
        scores = score_texts(texts) if texts else np.zeros((0, len(model.categories)))
    steps = explain_steps(model, texts, scores, thresholds, max_words, max_spans)
    wanted, evidence = advance(steps)
    while wanted is not None:
        wanted, evidence = advance(steps, score_texts(wanted))
    return evidence
