"""Zero/few-shot baseline without fine-tuning: cosine similarity to category prototypes.

Each category gets a positive prototype (its description, plus ``shots`` labelled positive
examples) and a negative prototype (a description of harmless content, plus ``shots`` examples
labelled 0 for it). The score is ``sigmoid((sim_positive - sim_negative) / temperature)``, so it
lies in [0, 1], rises with evidence for the category and 0.5 means "equally close to both".
"""

import numpy as np
import pandas as pd
import torch
from transformers import AutoModel, AutoTokenizer

from components.config import DEFAULT_BASE_MODEL
from components.data.canonical import Taxonomy
from components.errors import ModpipeError
from components.model.base_model import resolve_base_model
from components.model.metrics import label_matrix

DEFAULT_ENCODER = DEFAULT_BASE_MODEL  # the bundled offline all-MiniLM-L6-v2
MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained with this length (sentence_bert_config.json)
SAFE_DESCRIPTION = (
    "Ordinary, harmless everyday content: friendly conversation, news, questions, opinions "
    "and personal updates that do not hurt, threaten, insult or exploit anyone."
)
# Cosine differences between MiniLM prototypes are small (about +-0.2); this spreads them over
# most of (0, 1) without saturating.
TEMPERATURE = 0.05


class SentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings from the bundled MiniLM, a local folder
    or a hub id (components.model.base_model)."""

    def __init__(self, name_or_path: str = DEFAULT_ENCODER, batch_size: int = 64):
        source = resolve_base_model(name_or_path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
            self.model = AutoModel.from_pretrained(source, local_files_only=True).eval()
        except (OSError, ValueError) as err:
            raise ModpipeError(f"cannot load the encoder {name_or_path!r}: {err}") from None
        self.batch_size = batch_size

    @torch.inference_mode()
    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(
            texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
        )
        hidden = self.model(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1).numpy()

    def encode(self, texts: list[str]) -> np.ndarray:
        """[n, dim] float32. Each distinct text is encoded once, in batches of texts sorted by
        length, so a text's vector does not depend on its neighbours or the input order (and
        padding, hence time, is small)."""
        if not all(isinstance(text, str) for text in texts):
            raise ModpipeError(
                "every text to embed must be a string, found a missing or other value"
            )
        if not texts:
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        distinct = sorted(set(texts), key=lambda text: (len(text), text))
        vectors = np.concatenate(
            [
                self._encode_batch(distinct[start : start + self.batch_size])
                for start in range(0, len(distinct), self.batch_size)
            ]
        )
        row_of = {text: row for row, text in enumerate(distinct)}
        return vectors[[row_of[text] for text in texts]]


def _prototype(vectors: list[np.ndarray]) -> np.ndarray:
    mean = np.mean(vectors, axis=0)
    return mean / np.linalg.norm(mean)


class EmbeddingBaseline:
    """Scores texts per category by closeness to positive vs negative prototypes."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        encoder: str | SentenceEncoder = DEFAULT_ENCODER,
        shots: int = 0,
        seed: int = 13,
        batch_size: int = 64,
    ):
        if shots < 0:
            raise ModpipeError(f"shots must be 0 (zero-shot) or more, not {shots}")
        self.taxonomy = taxonomy
        self.categories = taxonomy.names
        self.shots = shots
        self.seed = seed
        # A loaded encoder (with its own batch size) can be shared, e.g. by zero- and few-shot.
        if isinstance(encoder, SentenceEncoder):
            self.encoder = encoder
        else:
            self.encoder = SentenceEncoder(encoder, batch_size=batch_size)
        self.positive_prototypes: np.ndarray | None = None  # [k, dim]
        self.negative_prototypes: np.ndarray | None = None  # [k, dim]

    def _sample(self, texts: np.ndarray, chosen: np.ndarray, rng: np.random.Generator) -> list[str]:
        picked = rng.choice(
            np.flatnonzero(chosen), size=min(self.shots, int(chosen.sum())), replace=False
        )
        return texts[np.sort(picked)].tolist()

    def _examples(self, train: pd.DataFrame) -> dict[str, tuple[list[str], list[str]]]:
        """Per category, up to ``shots`` positive and ``shots`` negative texts from ``train``."""
        labels = label_matrix(train, self.categories)
        texts = train["text"].to_numpy(dtype=object)  # a missing text stays so: encode flags it
        rng = np.random.default_rng(self.seed)
        return {
            category: (
                self._sample(texts, labels[:, column] == 1, rng),
                self._sample(texts, labels[:, column] == 0, rng),
            )
            for column, category in enumerate(self.categories)
        }

    def fit(self, train: pd.DataFrame | None = None) -> "EmbeddingBaseline":
        """Zero-shot: descriptions only. Few-shot: plus sampled labelled examples from train."""
        if self.shots and (train is None or train.empty):
            raise ModpipeError(f"a {self.shots}-shot baseline needs labelled training rows")
        empty = ([], [])
        examples = self._examples(train) if self.shots else {c: empty for c in self.categories}
        descriptions = [c.description for c in self.taxonomy.categories]
        every_text = (
            descriptions
            + [SAFE_DESCRIPTION]
            + [text for positives, negatives in examples.values() for text in positives + negatives]
        )
        vector_of = dict(zip(every_text, self.encoder.encode(every_text), strict=True))
        positive, negative = [], []
        for description, category in zip(descriptions, self.categories, strict=True):
            positives, negatives = examples[category]
            positive.append(_prototype([vector_of[t] for t in [description, *positives]]))
            negative.append(_prototype([vector_of[t] for t in [SAFE_DESCRIPTION, *negatives]]))
        self.positive_prototypes, self.negative_prototypes = np.stack(positive), np.stack(negative)
        return self

    def predict_scores(self, texts: list[str]) -> np.ndarray:
        """[n, k] scores in [0, 1], columns in taxonomy order."""
        if self.positive_prototypes is None:
            raise ModpipeError("the baseline is not fitted yet: call fit() first")
        vectors = self.encoder.encode(list(texts))
        margin = vectors @ self.positive_prototypes.T - vectors @ self.negative_prototypes.T
        return 1.0 / (1.0 + np.exp(-margin.astype(np.float64) / TEMPERATURE))
