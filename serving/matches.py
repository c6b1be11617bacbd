"""Known violations in ``/moderate``'s answers: each text's nearest known violations (the index
packaged in the model's folder, components.model.neighbours) as similar as a category's cut-off
or more, so a re-upload of removed content is flagged even when the classifier scores it low.

Texts are compared by the model's own embeddings, computed in the same forward pass as their
scores; the index refuses vectors from another encoder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from components.errors import ModpipeError
from components.model.neighbours import INDEX_DIR, Entry, Nearest, ViolationIndex
from components.serving_config import ServingConfig

NEIGHBOURS = 16  # known violations looked at per text, for the best of each category


class Match(BaseModel):
    id: str = Field(description="the known violation's id")
    category: str = Field(description="a category it was removed for, now flagged")
    similarity: float = Field(description="cosine similarity of the text to it, 4 places")
    excerpt: str = Field(description="the start of the known violation's text")


def matches_past_cutoffs(
    nearest: Nearest, entries: list[Entry], categories: list[str], cutoffs: dict[str, float]
) -> list[list[Match]]:
    """Per text, its nearest known violation of each category (``nearest``'s columns, named by
    ``categories``) that is at least as similar as that category's cut-off; most similar first."""
    found = []
    for similarities, positions in zip(nearest.similarity, nearest.position, strict=True):
        row = [
            Match(
                id=entries[position].id,
                category=category,
                similarity=round(min(float(similarity), 1.0), 4),  # float noise past identity
                excerpt=entries[position].excerpt,
            )
            for category, similarity, position in zip(
                categories, similarities, positions, strict=True
            )
            if position >= 0 and similarity >= cutoffs[category]
        ]
        found.append(sorted(row, key=lambda match: -match.similarity))
    return found


class Matcher:
    """The known violations of a served model, and the similarity each category flags from."""

    def __init__(self, index: ViolationIndex, cutoffs: dict[str, float]) -> None:
        self.index = index
        self.cutoffs = cutoffs

    @classmethod
    def load(
        cls,
        model_folder: Path,
        encoder: str,
        categories: list[str],
        settings: ServingConfig,
        threads: int,
    ) -> Matcher | None:
        """The index in ``model_folder``, or None when it has none; refused (ModpipeError) when
        it was built with another encoder or knows categories the model does not. Searches use
        ``threads`` (faiss would take one per CPU in every worker)."""
        folder = Path(model_folder) / INDEX_DIR
        if not folder.is_dir():
            return None
        index = ViolationIndex.load(folder, encoder)
        if index.manifest.backend == "faiss":
            import faiss

            faiss.omp_set_num_threads(threads)
        unknown = sorted(set(index.manifest.categories) - set(categories))
        if unknown:
            raise ModpipeError(
                f"{folder}: the index has categories the model lacks: {', '.join(unknown)}"
            )
        by_category = settings.match_similarity_by_category
        cutoffs = index.manifest.match_cutoffs(settings.match_similarity, by_category)
        return cls(index, cutoffs)

    def __len__(self) -> int:
        return len(self.index)

    def __call__(self, vectors: np.ndarray) -> list[list[Match]]:
        """Each text's matches, from its L2-normalised embedding (``vectors`` [texts, dim])."""
        nearest = self.index.nearest_by_category(vectors, NEIGHBOURS)
        return matches_past_cutoffs(
            nearest, self.index.entries, self.index.manifest.categories, self.cutoffs
        )
