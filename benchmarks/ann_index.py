"""Choose the approximate-nearest-neighbour index by measurement.

Compares, in one process, faiss-cpu (exact IndexFlatIP, which is also the ground truth,
IndexHNSWFlat and IndexIVFFlat), usearch HNSW (f32 and i8) and Qdrant's local mode (the same
client code that talks to a Qdrant server or cluster) on cosine similarity of L2-normalised
float32 vectors, dim 384:

1. ``--random`` seeded random unit vectors (a worst case for HNSW recall: in 384 dimensions
   random points are all nearly equidistant, so there is no neighbourhood structure to follow);
2. ``--real`` all-MiniLM-L6-v2 embeddings of the real texts in ../shared/data (whole texts
   first, then sentences of multi-sentence texts to make up the count), queried with held-out
   whole texts whose sentences are not indexed either. The vectors are cached in
   runs/benchmarks/ann-real-embeddings.npy and reused on a rerun.

Per (backend, dataset): build time, memory (RSS growth of this process while building, MB),
single-query latency p50/p99 (top-10, one thread), batch throughput (one batch of all queries,
all cores) and
recall@10 against exact search. Prints a markdown table, writes runs/benchmarks/ann_index.json.

    nice .venv/bin/python benchmarks/ann_index.py
    nice .venv/bin/python benchmarks/ann_index.py --random 100000 --real 20000
"""

import argparse
import hashlib
import json
import os
import re
import time
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
import psutil
from qdrant_client import QdrantClient, models
from threadpoolctl import threadpool_limits
from tqdm import tqdm
from usearch.index import Index

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT_DIR = ROOT / "runs" / "benchmarks"
CACHE = OUT_DIR / "ann-real-embeddings.npy"
DIM = 384
K = 10
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
MIN_SENTENCE_CHARS = 20
EMBED_CHUNK = 2048


# ---------------------------------------------------------------- real texts and embeddings


def _text_columns() -> dict[str, list[pd.Series]]:
    """The text columns of each public data set (see ../shared/data/README.md)."""
    convabuse = pd.read_csv(DATA / "convabuse" / "ConvAbuseEMNLPfull.csv")
    spans = DATA / "toxic-spans"
    return {
        "davidson": [pd.read_csv(DATA / "davidson" / "labeled_data.csv")["tweet"]],
        "toxic-spans": [pd.read_csv(spans / "comments.csv")["comment_text"]]
        + [pd.read_csv(spans / f"tsd_{split}.csv")["text"] for split in ("train", "trial", "test")],
        "sms-spam": [pd.read_csv(DATA / "sms-spam" / "SMSSpamCollection", sep="\t")["SMS"]],
        "convabuse": [convabuse[column] for column in ("prev_agent", "prev_user", "agent", "user")],
        "jigsaw-sample": [pd.read_csv(DATA / "jigsaw-sample" / "train.csv")["comment_text"]],
    }


def _distinct_texts() -> tuple[list[str], dict[str, int]]:
    """Sorted distinct non-empty texts over all sets, and how many each set contributes."""
    texts: set[str] = set()
    per_source = {}
    for source, columns in _text_columns().items():
        found = {str(text).strip() for column in columns for text in column.dropna()} - {""}
        per_source[source] = len(found)
        texts |= found
    return sorted(texts), per_source


def _sentences(texts: list[str], exclude: set[str]) -> list[str]:
    """Sorted distinct sentences of the multi-sentence ``texts`` that are not in ``exclude``."""
    found = set()
    for text in texts:
        parts = [part.strip() for part in SENTENCE_END.split(text)]
        parts = [part for part in parts if len(part) >= MIN_SENTENCE_CHARS]
        if len(parts) > 1:
            found.update(parts)
    return sorted(found - exclude)


def real_items(n_queries: int, seed: int) -> tuple[list[str], dict]:
    """Held-out query texts, then the index candidates: whole texts first, then sentences of
    the multi-sentence ones (never a query's). The order depends on ``n_queries`` and ``seed``
    only, so any ``--real`` size takes a prefix and the embedding cache serves them all."""
    texts, per_source = _distinct_texts()
    rng = np.random.default_rng(seed)
    texts = [texts[i] for i in rng.permutation(len(texts))]
    whole = texts[n_queries:]
    sentences = _sentences(whole, exclude=set(texts))
    sentences = [sentences[i] for i in rng.permutation(len(sentences))]
    counts = {"distinct_texts_per_source": per_source, "whole_texts_for_index": len(whole)}
    return texts[:n_queries] + whole + sentences, counts


def _fingerprint(items: list[str]) -> str:
    return hashlib.sha256("\0".join(items).encode()).hexdigest()


def _cached_prefix(items: list[str]) -> np.ndarray:
    """The cached vectors if they were embedded from the first items of ``items``, in order."""
    meta_path = CACHE.with_suffix(".json")
    if not (CACHE.exists() and meta_path.exists()):
        return np.zeros((0, DIM), dtype=np.float32)
    meta = json.loads(meta_path.read_text())
    if meta["rows"] > len(items) or meta["sha256"] != _fingerprint(items[: meta["rows"]]):
        return np.zeros((0, DIM), dtype=np.float32)
    return np.load(CACHE)


def _save_cache(vectors: np.ndarray, items: list[str]) -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    np.save(CACHE, vectors)
    meta = {"rows": len(vectors), "sha256": _fingerprint(items[: len(vectors)])}
    CACHE.with_suffix(".json").write_text(json.dumps(meta))


def embed_cached(items: list[str], rows: int) -> np.ndarray:
    """Vectors of ``items[:rows]``: the cached prefix, then the rest, saved after every chunk
    (so an interrupted run resumes where it stopped)."""
    vectors = _cached_prefix(items)
    missing = range(len(vectors), rows, EMBED_CHUNK)
    if missing:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the bundled model, nothing downloaded
        from components.model.baseline import SentenceEncoder

        encoder = SentenceEncoder()
        for start in tqdm(missing, desc=f"embed {rows - len(vectors):,} texts"):
            chunk = encoder.encode(items[start : min(rows, start + EMBED_CHUNK)])
            vectors = np.concatenate([vectors, chunk.astype(np.float32)])
            _save_cache(vectors, items)
    return vectors[:rows]


# ---------------------------------------------------------------- backends
# Each has build(vectors), search(queries [m, DIM]) -> ids [m, K] and index_bytes() (or None).


class FaissFlat:
    name = "faiss IndexFlatIP (exact)"

    def build(self, vectors):
        self.index = faiss.IndexFlatIP(DIM)
        self.index.add(vectors)

    def search(self, queries):
        return self.index.search(queries, K)[1]

    def index_bytes(self):
        return faiss.serialize_index(self.index).nbytes


class FaissHNSW(FaissFlat):
    name = "faiss IndexHNSWFlat M=32 efC=64 efS=64"

    def build(self, vectors):
        self.index = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = 64
        self.index.hnsw.efSearch = 64
        self.index.add(vectors)


class FaissIVF(FaissFlat):
    """nlist = sqrt(n) lists, trained on 40 points a list; a query scans 1/16 of the lists."""

    name = "faiss IndexIVFFlat nlist=sqrt(n) nprobe=nlist/16"

    def build(self, vectors):
        n = len(vectors)
        nlist = max(16, int(np.sqrt(n)))
        self.quantizer = faiss.IndexFlatIP(DIM)
        self.index = faiss.IndexIVFFlat(self.quantizer, DIM, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(n, min(n, 40 * nlist), replace=False)
        self.index.train(vectors[np.sort(sample)])
        self.index.add(vectors)
        self.index.nprobe = nlist // 16


class USearchHNSW:
    def __init__(self, dtype):
        self.dtype = dtype
        self.name = f"usearch HNSW {dtype} ip M=32 efC=64 efS=64"

    def build(self, vectors):
        self.index = Index(
            ndim=DIM,
            metric="ip",
            dtype=self.dtype,
            connectivity=32,
            expansion_add=64,
            expansion_search=64,
        )
        self.index.add(np.arange(len(vectors)), vectors, log=f"usearch {self.dtype} add")

    def search(self, queries):
        return self.index.search(queries, K).keys.reshape(len(queries), K)

    def index_bytes(self):
        return self.index.memory_usage


class QdrantLocal:
    name = "Qdrant local mode (:memory:, cosine)"
    collection = "bench"

    def build(self, vectors):
        self.client = QdrantClient(":memory:")
        self.client.create_collection(
            self.collection,
            vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE),
        )
        self.client.upload_collection(
            self.collection, vectors=tqdm(vectors, desc="qdrant upload"), ids=range(len(vectors))
        )

    def search(self, queries):
        if len(queries) == 1:
            points = self.client.query_points(self.collection, query=queries[0], limit=K).points
            return np.array([[point.id for point in points]])
        requests = [models.QueryRequest(query=query, limit=K) for query in queries]
        responses = self.client.query_batch_points(self.collection, requests=requests)
        return np.array([[point.id for point in response.points] for response in responses])

    def index_bytes(self):
        return None


# ---------------------------------------------------------------- measurement


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def _recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, exact, strict=True)]))


def measure(backend, vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray | None) -> dict:
    """Build, then time single queries and one batch; ``exact=None`` means this is the truth."""
    print(f"  {backend.name}: building on {len(vectors):,} vectors", flush=True)
    rss, start = _rss_mb(), time.perf_counter()
    backend.build(vectors)
    build_s, rss_growth = time.perf_counter() - start, _rss_mb() - rss
    latencies = []
    with threadpool_limits(1):  # one query, one thread, as in a serving worker
        for query in tqdm(queries, desc="  single queries", leave=False):
            start = time.perf_counter()
            backend.search(query[None, :])
            latencies.append(time.perf_counter() - start)
    start = time.perf_counter()
    found = backend.search(queries)
    batch_s = time.perf_counter() - start
    index_bytes = backend.index_bytes()
    return {
        "backend": backend.name,
        "n": len(vectors),
        "build_s": build_s,
        "rss_growth_mb": rss_growth,
        "index_mb": None if index_bytes is None else index_bytes / 2**20,
        "p50_ms": 1000 * float(np.percentile(latencies, 50)),
        "p99_ms": 1000 * float(np.percentile(latencies, 99)),
        "batch_qps": len(queries) / batch_s,
        "recall_at_10": 1.0 if exact is None else _recall(found, exact),
        "ids": found,
    }


def unit_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact_ids(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    index = FaissFlat()
    index.build(vectors)
    return index.search(queries)


APPROXIMATE = {
    "faiss-hnsw": FaissHNSW,
    "faiss-ivf": FaissIVF,
    "usearch-f32": lambda: USearchHNSW("f32"),
    "usearch-i8": lambda: USearchHNSW("i8"),
}


def run_dataset(label: str, vectors, queries, qdrant_limit: int, skip: set[str]) -> list[dict]:
    """All backends on one data set; Qdrant on the first ``qdrant_limit`` vectors if bigger."""
    print(f"{label}: {len(vectors):,} vectors, {len(queries):,} queries", flush=True)
    truth = measure(FaissFlat(), vectors, queries, exact=None)
    rows = [truth]
    for name, make in APPROXIMATE.items():
        if name in skip:
            print(f"  {name}: skipped (--skip)", flush=True)
            continue
        rows.append(measure(make(), vectors, queries, truth["ids"]))
    if "qdrant" in skip:
        return _labelled(rows, label)
    qdrant_vectors, qdrant_truth = vectors[:qdrant_limit], truth["ids"]
    if len(qdrant_vectors) < len(vectors):
        print(f"  Qdrant local mode on the first {len(qdrant_vectors):,} vectors only", flush=True)
        qdrant_truth = exact_ids(qdrant_vectors, queries)
    rows.append(measure(QdrantLocal(), qdrant_vectors, queries, qdrant_truth))
    if len(qdrant_vectors) < len(vectors):
        rows[-1]["backend"] += f" (first {len(qdrant_vectors):,} of {len(vectors):,} only)"
    return _labelled(rows, label)


def _labelled(rows: list[dict], label: str) -> list[dict]:
    for row in rows:
        row["dataset"] = label
        del row["ids"]
    return rows


# ---------------------------------------------------------------- report


COLUMNS = (
    ("dataset", "dataset", "{}"),
    ("backend", "backend", "{}"),
    ("n", "n indexed", "{:,}"),
    ("build_s", "build (s)", "{:.1f}"),
    ("index_mb", "index (MB)", "{:.0f}"),
    ("rss_growth_mb", "RSS growth (MB)", "{:.0f}"),
    ("p50_ms", "p50 (ms)", "{:.2f}"),
    ("p99_ms", "p99 (ms)", "{:.2f}"),
    ("batch_qps", "batch (q/s)", "{:,.0f}"),
    ("recall_at_10", "recall@10", "{:.3f}"),
)


def markdown(rows: list[dict]) -> str:
    lines = [
        "| " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in rows:
        cells = ["-" if row[key] is None else form.format(row[key]) for key, _, form in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=1_000_000, help="random vectors; 0 skips")
    parser.add_argument("--real", type=int, default=100_000, help="real embeddings; 0 skips")
    parser.add_argument("--queries", type=int, default=1_000, help="queries per data set")
    parser.add_argument(
        "--skip-qdrant-over",
        type=int,
        default=100_000,
        help="measure Qdrant local mode (brute force in Python) on at most this many vectors",
    )
    parser.add_argument(
        "--skip",
        type=lambda text: set(text.split(",")),
        default=set(),
        help=f"backends to leave out, comma-separated: {', '.join(APPROXIMATE)}, qdrant",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT_DIR / "ann_index.json")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    rows, notes = [], {}
    if args.random:
        rng = np.random.default_rng(args.seed)
        vectors, queries = unit_vectors(args.random, rng), unit_vectors(args.queries, rng)
        rows += run_dataset("random", vectors, queries, args.skip_qdrant_over, args.skip)
        del vectors
    if args.real:
        items, counts = real_items(args.queries, args.seed)
        if args.queries + args.real > len(items):
            raise SystemExit(f"only {len(items) - args.queries:,} real items for --real")
        embedded = embed_cached(items, args.queries + args.real)
        queries, vectors = embedded[: args.queries], embedded[args.queries :]
        whole = min(args.real, counts.pop("whole_texts_for_index"))
        counts |= {"indexed_whole_texts": whole, "indexed_sentences": args.real - whole}
        notes["real"] = counts
        rows += run_dataset("real MiniLM", vectors, queries, args.skip_qdrant_over, args.skip)
    print(markdown(rows))
    if args.random:
        print("\nRandom unit vectors in 384 dimensions are a worst case for HNSW and IVF recall.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"args": vars(args), "notes": notes, "rows": rows}, indent=2, default=str)
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
