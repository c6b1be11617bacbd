"""Known violations as a nearest-neighbour index of the model's own embeddings.

The training pipeline builds it from the train split's positives (confirmed review decisions
join the dataset as labelled rows, so they are in it too) and saves it in the model's folder
(:data:`INDEX_DIR`), so it is versioned with the model in MLflow and packaged with the bento.
Vectors are L2-normalised, so inner product is cosine similarity.

Two backends, one interface:
- ``faiss`` (the embedded default): exact search up to :data:`EXACT_UP_TO` items, HNSW above;
  BENCHMARKS.md ("Nearest-neighbour index") has the measurements behind the choice;
- ``qdrant``: Qdrant's local mode in the same folder, or a Qdrant server or cluster (``url``)
  when the index outgrows one machine; the client code is the same for both.

An index records the encoder that made its vectors (:attr:`ModerationModel.encoder_id`) and
refuses queries from another, naming both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ValidationError

from components.errors import ModpipeError

INDEX_DIR = "violations"
MANIFEST = "manifest.json"
ENTRIES = "entries.jsonl"
FAISS_FILE = "vectors.faiss"
QDRANT_DIR = "qdrant"
COLLECTION = "known-violations"
EXACT_UP_TO = 100_000  # exact: recall 1.0, 5.8 ms a query at 100k (BENCHMARKS.md); HNSW above
HNSW_NEIGHBOURS = 32
HNSW_EF_SEARCH = 128
EXCERPT_CHARS = 200
# A cut-off lets through at most this share of held-out texts labelled negative: a fine-tuned
# encoder's space is collapsed (a text is often 0.9 similar to some violation of its
# category), so a fixed cut-off would match ordinary texts (BENCHMARKS.md, recall).
NEGATIVES_MATCHED = 0.005
MIN_NEGATIVES = 50  # fewer held-out negatives than this: no calibrated cut-off
CUTOFF_RANGE = (0.5, 0.999)
Backend = Literal["faiss", "qdrant"]


class IndexManifest(BaseModel):
    encoder: str
    dim: int
    categories: list[str]
    count: int
    backend: Backend = "faiss"
    url: str | None = None  # a Qdrant server; None: the local files in the index folder
    # Per category, the similarity from which a text matches a known violation: chosen on
    # held-out texts labelled negative (calibrate_cutoffs); a category without is not matched
    # unless a setting gives its cut-off.
    cutoffs: dict[str, float] = {}

    def match_cutoffs(self, default: float | None, overrides: dict[str, float]) -> dict:
        """Per category, the cut-off to match from: ``overrides``, else ``default`` when set,
        else the calibrated one (1.01, never, where there is none)."""
        return {
            category: overrides.get(
                category, default if default is not None else self.cutoffs.get(category, 1.01)
            )
            for category in self.categories
        }


@dataclass(frozen=True)
class Entry:
    id: str
    categories: tuple[str, ...]
    excerpt: str


@dataclass(frozen=True)
class Nearest:
    """Per query and category, the most similar known violation of that category among the
    query's neighbours: ``similarity`` [n, k] (0 where none), ``position`` [n, k] (-1)."""

    similarity: np.ndarray
    position: np.ndarray


class _Faiss:
    def __init__(self, index):
        self.index = index

    @classmethod
    def build(cls, vectors: np.ndarray) -> _Faiss:
        import faiss

        dim = vectors.shape[1]
        if len(vectors) <= EXACT_UP_TO:
            index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = HNSW_EF_SEARCH
        index.add(vectors)
        return cls(index)

    @classmethod
    def load(cls, folder: Path, manifest: IndexManifest) -> _Faiss:
        import faiss

        return cls(faiss.read_index(str(folder / FAISS_FILE)))

    def save(self, folder: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(folder / FAISS_FILE))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(queries, k)

    def close(self) -> None:
        """Nothing to let go: the index is in memory."""


class _Qdrant:
    """The same calls reach Qdrant's local mode (a folder) and a Qdrant server or cluster."""

    def __init__(self, client):
        self.client = client

    @staticmethod
    def _client(folder: Path, url: str | None):
        from qdrant_client import QdrantClient

        return QdrantClient(url=url) if url else QdrantClient(path=str(folder / QDRANT_DIR))

    @classmethod
    def build(cls, vectors: np.ndarray, folder: Path, url: str | None) -> _Qdrant:
        from qdrant_client import models

        client = cls._client(folder, url)
        if client.collection_exists(COLLECTION):
            client.delete_collection(COLLECTION)
        client.create_collection(
            COLLECTION,
            vectors_config=models.VectorParams(size=vectors.shape[1], distance=models.Distance.DOT),
        )
        client.upload_collection(COLLECTION, vectors=vectors, ids=range(len(vectors)))
        return cls(client)

    @classmethod
    def load(cls, folder: Path, manifest: IndexManifest) -> _Qdrant:
        return cls(cls._client(folder, manifest.url))

    def save(self, folder: Path) -> None:
        """Qdrant wrote its points as they were uploaded; local mode locks its folder to one
        client at a time (so one process: more need a server), so this one lets go."""
        self.close()

    def close(self) -> None:
        self.client.close()

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        from qdrant_client import models

        requests = [models.QueryRequest(query=q.tolist(), limit=k) for q in queries]
        answers = self.client.query_batch_points(COLLECTION, requests=requests)
        similarity = np.zeros((len(queries), k), dtype=np.float32)
        position = np.full((len(queries), k), -1, dtype=np.int64)
        for row, answer in enumerate(answers):
            for column, point in enumerate(answer.points):
                similarity[row, column], position[row, column] = point.score, point.id
        return similarity, position


def read_manifest(folder: Path) -> IndexManifest:
    """What the index in ``folder`` holds (its encoder, categories, cut-offs), unloaded."""
    try:
        return IndexManifest.model_validate_json((Path(folder) / MANIFEST).read_text("utf-8"))
    except FileNotFoundError:
        raise ModpipeError(f"{folder}: no known-violation index ({MANIFEST})") from None
    except ValidationError as err:
        raise ModpipeError(f"{Path(folder) / MANIFEST}: {err.errors()[0]['msg']}") from None


def read_entries(folder: Path) -> list[Entry]:
    """The known violations of the index in ``folder``, in index order."""
    with open(Path(folder) / ENTRIES, encoding="utf-8") as lines:
        return [
            Entry(r["id"], tuple(r["categories"]), r["excerpt"]) for r in map(json.loads, lines)
        ]


class ViolationIndex:
    """Known violating texts, their categories, and their embeddings in a searchable index."""

    def __init__(self, manifest: IndexManifest, entries: list[Entry], backend, folder: Path):
        self.manifest = manifest
        self.entries = entries
        self.backend = backend
        self.folder = folder
        self.labels = np.array(
            [[c in e.categories for c in manifest.categories] for e in entries], dtype=bool
        ).reshape(len(entries), len(manifest.categories))

    @classmethod
    def build(
        cls,
        folder: Path,
        vectors: np.ndarray,
        entries: list[Entry],
        categories: list[str],
        encoder: str,
        backend: Backend = "faiss",
        url: str | None = None,
    ) -> ViolationIndex:
        """Index ``vectors`` (one per entry) and save it all in ``folder``."""
        if len(vectors) != len(entries):
            raise ModpipeError(f"{len(vectors)} vectors for {len(entries)} known violations")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        manifest = IndexManifest(
            encoder=encoder,
            dim=vectors.shape[1],
            categories=categories,
            count=len(entries),
            backend=backend,
            url=url,
        )
        searcher = (
            _Faiss.build(vectors) if backend == "faiss" else _Qdrant.build(vectors, folder, url)
        )
        searcher.save(folder)
        with open(folder / ENTRIES, "w", encoding="utf-8") as out:
            for entry in entries:
                record = {"id": entry.id, "categories": list(entry.categories)}
                out.write(json.dumps({**record, "excerpt": entry.excerpt[:EXCERPT_CHARS]}) + "\n")
        (folder / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return cls.load(folder, encoder)

    @classmethod
    def load(cls, folder: Path, encoder: str) -> ViolationIndex:
        """The index saved in ``folder``, refused unless its vectors come from ``encoder``."""
        folder = Path(folder)
        manifest = read_manifest(folder)
        if manifest.encoder != encoder:
            raise ModpipeError(
                f"{folder}: the index was built with encoder {manifest.encoder!r}, the model's "
                f"is {encoder!r}; rebuild the index with this model"
            )
        entries = read_entries(folder)
        searcher = (_Faiss if manifest.backend == "faiss" else _Qdrant).load(folder, manifest)
        return cls(manifest, entries, searcher, folder)

    def __len__(self) -> int:
        return len(self.entries)

    def close(self) -> None:
        """Let go of the backend (Qdrant's local mode admits one client to a folder at once)."""
        self.backend.close()

    def set_cutoffs(self, cutoffs: dict[str, float]) -> None:
        self.manifest = self.manifest.model_copy(update={"cutoffs": cutoffs})
        (self.folder / MANIFEST).write_text(self.manifest.model_dump_json(indent=2) + "\n", "utf-8")

    def cutoffs(self, default: float | None, overrides: dict[str, float]) -> dict[str, float]:
        """Per category of the index, the cut-off to match from: ``overrides``, else
        ``default`` when set, else the calibrated one (1.01, never, where there is none)."""
        chosen = {}
        for category in self.manifest.categories:
            calibrated = self.manifest.cutoffs.get(category, 1.01)
            fallback = default if default is not None else calibrated
            chosen[category] = overrides.get(category, fallback)
        return chosen

    def search(self, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """[n, k] similarities and positions of each query's nearest known violations."""
        k = min(k, len(self))
        if queries.shape[1] != self.manifest.dim:
            raise ModpipeError(
                f"queries of {queries.shape[1]} dimensions for an index of {self.manifest.dim}"
            )
        return self.backend.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def nearest_by_category(self, queries: np.ndarray, k: int = 16) -> Nearest:
        n, categories = len(queries), len(self.manifest.categories)
        similarity = np.zeros((n, categories), dtype=np.float32)
        position = np.full((n, categories), -1, dtype=np.int64)
        if not len(self) or not n:
            return Nearest(similarity, position)
        found, positions = self.search(queries, k)
        # Neighbours come best first: walk them from the worst so the best one is written last.
        for column in reversed(range(found.shape[1])):
            hit = positions[:, column]
            valid = hit >= 0
            labelled = np.zeros((n, categories), dtype=bool)
            labelled[valid] = self.labels[hit[valid]]
            similarity = np.where(labelled, found[:, column : column + 1], similarity)
            position = np.where(labelled, hit[:, None], position)
        return Nearest(similarity, position)


def index_known_violations(
    model,
    frame,
    folder: Path,
    max_items: int,
    backend: Backend = "faiss",
    url: str | None = None,
    batch_size: int = 64,
) -> ViolationIndex:
    """The rows of ``frame`` labelled positive for any category, embedded by ``model`` and
    indexed in ``folder`` (a deterministic sample of ``max_items`` when there are more)."""
    from components.model.metrics import label_matrix

    labels = label_matrix(frame, model.categories) == 1  # unknown (nan) is not positive
    positives = frame[labels.any(axis=1)]
    if len(positives) > max_items:
        positives = positives.sample(n=max_items, random_state=0)
    labels = label_matrix(positives, model.categories) == 1
    texts = positives["text"].astype(str).tolist()
    _, vectors = model.predict_with_embeddings(texts, batch_size)
    entries = [
        Entry(
            str(row_id), tuple(c for c, hit in zip(model.categories, row, strict=True) if hit), text
        )
        for row_id, row, text in zip(positives["id"], labels, texts, strict=True)
    ]
    return ViolationIndex.build(
        folder, vectors, entries, model.categories, model.encoder_id, backend, url
    )


def calibrate_cutoffs(index: ViolationIndex, model, frame, batch_size: int = 64) -> dict:
    """Per category, the similarity that only :data:`NEGATIVES_MATCHED` of ``frame``'s rows
    labelled negative for it reach (held-out rows: the validation split), saved in the index."""
    from components.model.metrics import label_matrix

    labels = label_matrix(frame, index.manifest.categories)
    _, vectors = model.predict_with_embeddings(frame["text"].astype(str).tolist(), batch_size)
    nearest = index.nearest_by_category(vectors)
    cutoffs = {}
    for column, category in enumerate(index.manifest.categories):
        negatives = labels[:, column] == 0
        if negatives.sum() >= MIN_NEGATIVES:
            reached = np.quantile(nearest.similarity[negatives, column], 1 - NEGATIVES_MATCHED)
            cutoffs[category] = round(float(np.clip(reached, *CUTOFF_RANGE)), 4)
    index.set_cutoffs(cutoffs)
    return cutoffs
