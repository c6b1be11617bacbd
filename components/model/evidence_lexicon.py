"""The evidence lexicon: per category, how often annotators marked a word as evidence where they
saw it, learnt from the train rows' spans with the evidence head and joined to the head's
character scores (:meth:`EvidenceLexicon.join`).

Why beside the head: on Toxic Spans (BENCHMARKS.md, "Evidence quality") such a lexicon alone
scores about as well as MiniLM's head, and the two together better than either. The head reads
context; the lexicon remembers the annotators' vocabulary, more of it than a small encoder
learns from a few thousand posts.

It counts what the head's loss counts (components.model.evidence_head): rows with spans only,
and in each only the categories known on every token. A word (``\\w+`` on the normalised text,
lower-cased) is evidence where any of its characters is. Its score is ``marked / (seen +
PRIOR)``: a word seen once, and marked, scores 1/3, not 1.

Saved as :data:`LEXICON_FILE` beside the head; a model saved without one scores by its head
alone.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from components.errors import ModpipeError
from components.model.normalize import WORD, normalize_with_offsets

if TYPE_CHECKING:  # the type only: the lexicon itself runs without torch
    from components.model.evidence_head import EvidenceTargets

LEXICON_FILE = "evidence_lexicon.json"
PRIOR = 2  # unmarked sightings added to every word's count: rare words score low
WEIGHT = 0.5  # of the lexicon's score when joined to the head's (chosen on tsd_trial)


class EvidenceLexicon:
    """``scores[category][word]``: the share of the word's sightings marked as evidence."""

    def __init__(self, scores: dict[str, dict[str, float]]):
        self.scores = scores

    @classmethod
    def learn(cls, targets: EvidenceTargets, categories: list[str]) -> EvidenceLexicon:
        """From the train rows' evidence targets (counted on the normalised texts)."""
        seen = [Counter() for _ in categories]
        marked = [Counter() for _ in categories]
        for text, row in zip(targets.texts, targets.rows, strict=True):
            if row is None:
                continue
            counts, covered = row
            normalised, _ = normalize_with_offsets(text)
            for match in WORD.finditer(normalised):
                word = match.group().lower()
                inside = counts[match.end()] > counts[match.start()]
                for j in np.flatnonzero(covered):
                    seen[j][word] += 1
                    marked[j][word] += int(inside[j])
        return cls(
            {
                name: {w: round(n / (seen[j][w] + PRIOR), 4) for w, n in marked[j].items() if n}
                for j, name in enumerate(categories)
            }
        )

    def save(self, directory: Path) -> None:
        path = Path(directory) / LEXICON_FILE
        path.write_text(json.dumps(self.scores, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> EvidenceLexicon | None:
        """The lexicon saved in ``directory``; None when there is none."""
        path = Path(directory) / LEXICON_FILE
        if not path.is_file():
            return None
        try:
            return cls(json.loads(path.read_text(encoding="utf-8")))
        except ValueError as err:
            raise ModpipeError(f"{path}: not an evidence lexicon ({err})") from None

    def character_scores(self, text: str, categories: list[str]) -> np.ndarray:
        """[len(text), k]: each character's word's score; 0 off words, for unknown words and
        for the characters the normaliser dropped (as the head scores them)."""
        normalised, origin = normalize_with_offsets(text)
        return self._scores(normalised, origin, len(text), categories)

    def join(
        self, head: np.ndarray, normalised: str, origin: np.ndarray, categories: list[str]
    ) -> np.ndarray:
        """The head's [len(text), k] scores joined with the lexicon's, given the text as the head
        read it (``origin``: each of its characters' offset in the original)."""
        lexicon = self._scores(normalised, origin, len(head), categories)
        return (1 - WEIGHT) * head + WEIGHT * lexicon

    def _scores(
        self, normalised: str, origin: np.ndarray, length: int, categories: list[str]
    ) -> np.ndarray:
        matrix = np.zeros((length, len(categories)), dtype=np.float32)
        tables = [self.scores.get(name, {}) for name in categories]
        for match in WORD.finditer(normalised):
            word = match.group().lower()
            matrix[origin[match.start() : match.end()]] = [t.get(word, 0.0) for t in tables]
        return matrix
