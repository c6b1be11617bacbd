"""Evidence in ``/moderate``'s answers: per flagged category, the spans of each text that make the
model flag it (components.model.evidence: an evidence head's, or occlusion's).

Only texts with a category past its cut-off are explained, and of them only those categories.
Occlusion's texts to score go through the service's own scoring, so they share the
micro-batcher's batches with every request and a short request queued behind them still gets
its fair share of the next batch. A request's first ``evidence_max_texts`` flagged texts are
explained, so that a large flagged request stays within its deadline; the results of any
others have no ``evidence`` key; the rest of the work (finding words, building the erased
texts, an evidence head's pass) runs on a thread of its own, off the event loop. For content
parts, each span names its text ``part``; the text read in images is not explained.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from pydantic import BaseModel, Field, model_serializer

from components.model.evidence import Span, advance, explain_steps
from components.model.modeling import ModerationModel
from components.serving_config import ServingConfig

Found = dict[str, list["Evidence"]]  # category -> its spans


class Evidence(BaseModel):
    start: int = Field(description="where the span starts in the text, in Unicode code points")
    end: int = Field(description="where it ends (exclusive): text[start:end] is the span")
    text: str
    score: float = Field(description="how much it carries the decision, from 0 to 1")
    part: int | None = Field(
        default=None, description="the index of the content part it is in (content parts only)"
    )

    @model_serializer(mode="wrap")
    def _part_only_for_parts(self, serialize):
        data = serialize(self)
        if self.part is None:
            data.pop("part", None)
        return data


class Explainer:
    def __init__(
        self,
        model: ModerationModel,
        settings: ServingConfig,
        score: Callable[[list[str]], Awaitable[np.ndarray]],
    ) -> None:
        """``score(texts)``: their [n, k] sigmoid scores, through the service's batching."""
        self.model = model
        self.max_words = settings.evidence_max_words
        self.max_spans = settings.evidence_max_spans
        self.max_texts = settings.evidence_max_texts
        self.score = score
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence")

    async def __call__(
        self,
        texts: list[str],
        scores: np.ndarray,
        cutoffs: dict[str, float],
        parts: list[int] | None = None,
    ) -> list[Found | None]:
        """Per text, the evidence of each category its score flags; ``parts``: the content part
        each text is. Past the first ``evidence_max_texts`` flagged texts, None: not explained."""
        flagged = (scores >= np.array(list(cutoffs.values()))).any(axis=1)
        unexplained = np.cumsum(flagged) > self.max_texts
        scores = np.where(unexplained[:, None], -1.0, scores)  # left out: under any cut-off
        steps = explain_steps(self.model, texts, scores, cutoffs, self.max_words, self.max_spans)
        loop = asyncio.get_running_loop()
        wanted, found = await loop.run_in_executor(self.thread, advance, steps)
        while wanted is not None:
            scored = await self.score(wanted)
            wanted, found = await loop.run_in_executor(self.thread, advance, steps, scored)
        return [
            {
                name: [
                    evidence_of(text, span, None if parts is None else parts[i]) for span in spans
                ]
                for name, spans in found[i].items()
            }
            if not unexplained[i]
            else None
            for i, text in enumerate(texts)
        ]


def evidence_of(text: str, span: Span, part: int | None) -> Evidence:
    return Evidence(
        start=span.start,
        end=span.end,
        text=text[span.start : span.end],
        score=round(span.score, 4),
        part=part,
    )


def merged(found: list[Found | None]) -> Found:
    """The content parts' evidence as one result's."""
    evidence: Found = {}
    for part in found:
        for name, spans in (part or {}).items():
            evidence.setdefault(name, []).extend(spans)
    return evidence
