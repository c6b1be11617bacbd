"""Highlighted examples for the evaluation report: a few flagged test texts with the model's
evidence (components.model.evidence) marked, next to the annotators' evidence where the row has
some (the ``rationale`` field, e.g. Toxic Spans'). Long texts are cut around the evidence."""

import html

import numpy as np
import pandas as pd

from components.data.canonical import is_missing
from components.data.rationale import parse_rationale
from components.model.evidence import explain

EXAMPLES = 6
SHOWN_CHARS = 320  # of a text; a longer one is cut around its gold, or best, evidence
CONTEXT_CHARS = 100  # shown before that evidence


def gold_evidence(rationale) -> list[tuple[int, int, str]]:
    """The annotators' spans of a row's rationale: (start, end, category)."""
    if is_missing(rationale):
        return []
    return [(span.start, span.end, span.type) for span in parse_rationale(rationale).evidence]


def evidence_examples(
    model, test: pd.DataFrame, scores: np.ndarray, thresholds: dict[str, float], count=EXAMPLES
) -> list[dict]:
    """Up to ``count`` flagged test rows, those with gold evidence first, then by their highest
    score; each ``{"id", "text", "predicted": [(start, end, category, score)], "gold": [...]}``."""
    cutoffs = np.array([thresholds[name] for name in model.categories])
    flagged = np.nonzero((scores >= cutoffs).any(axis=1))[0]
    rationales = test["rationale"] if "rationale" in test else pd.Series([None] * len(test))
    gold = [gold_evidence(rationales.iloc[row]) for row in flagged]
    order = sorted(range(len(flagged)), key=lambda i: (not gold[i], -scores[flagged[i]].max()))
    chosen = [flagged[i] for i in order[:count]]
    texts = [test["text"].iloc[row] for row in chosen]
    explained = explain(model, texts, scores[chosen], thresholds)
    return [
        {
            "id": str(test["id"].iloc[row]),
            "text": text,
            "predicted": [
                (span.start, span.end, name, span.score)
                for name, spans in found.items()
                for span in spans
            ],
            "gold": gold[order[i]],
        }
        for i, (row, text, found) in enumerate(zip(chosen, texts, explained, strict=True))
    ]


def highlighted(text: str, spans: list[tuple[int, int, str]]) -> str:
    """``text`` HTML-escaped, each stretch that spans cover in a ``<mark>`` titled by them."""
    bounds = sorted({0, len(text)} | {p for start, end, _ in spans for p in (start, end)})
    pieces = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        piece = html.escape(text[start:end])
        titles = [title for s, e, title in spans if s <= start and end <= e]
        if titles:
            piece = f'<mark title="{html.escape("; ".join(titles))}">{piece}</mark>'
        pieces.append(piece)
    return "".join(pieces)


def _shown(text: str, anchor: int) -> tuple[int, int]:
    """The part of ``text`` shown: all of a short one, else a cut from a little before
    ``anchor``."""
    if len(text) <= SHOWN_CHARS:
        return 0, len(text)
    start = max(0, min(anchor - CONTEXT_CHARS, len(text) - SHOWN_CHARS))
    return start, start + SHOWN_CHARS


def _line(text: str, window: tuple[int, int], spans: list[tuple[int, int, str]]) -> str:
    start, end = window
    inside = [
        (max(s, start) - start, min(e, end) - start, title)
        for s, e, title in spans
        if s < end and e > start
    ]
    cut = highlighted(text[start:end], inside)
    return ("…" if start else "") + cut + ("…" if end < len(text) else "")


def examples_html(examples: list[dict], agreement: dict | None = None) -> str:
    """The report's section: each example's predicted evidence, and gold where it has some;
    ``agreement``: the evidence's F1 against the annotators' (components.model.evidence_quality)."""
    rows = []
    for example in examples:
        text = example["text"]
        predicted = [(s, e, f"{name} {score:.2f}") for s, e, name, score in example["predicted"]]
        gold = [(s, e, f"gold: {name}") for s, e, name in example["gold"]]
        best = max(example["predicted"], key=lambda span: span[3], default=(0,))
        window = _shown(text, min(s for s, _, _ in gold) if gold else best[0])
        cells = f"<td>{html.escape(example['id'])}</td><td>{_line(text, window, predicted)}</td>"
        cells += f"<td>{_line(text, window, gold) if gold else '–'}</td>"
        rows.append(f"<tr>{cells}</tr>")
    return (
        "<h2>Evidence: highlighted examples</h2>"
        '<p class="note">Flagged test texts (those with annotated evidence first) with the spans '
        "the model's evidence points to (hover for the category and score) and, where the row "
        "has them, the annotators' spans. Long texts are cut around the evidence."
        + (
            f" Agreement of the {agreement['method']}'s evidence with the annotators' over the "
            f"{agreement['rows']:,} test rows with spans: character F1 <b>{agreement['f1']:.3f}"
            "</b> (SemEval-2021 Task 5's per-row F1, averaged; an unflagged row scores 0)."
            if agreement
            else ""
        )
        + "</p>"
        '<table class="metrics evidence"><thead><tr><th>Row</th><th>Predicted evidence</th>'
        f"<th>Gold evidence</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
