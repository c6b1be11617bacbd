"""The moderation classifier: a transformer encoder with one sigmoid output per category.

A saved model is a folder holding the transformers weights and config, the tokenizer, and
``moderation.json`` (:data:`MODEL_CARD`): the categories, their decision thresholds, the base
model it was fine-tuned from, the token length it was trained with, the text normalisation it
applies and how its head reads the encoder (``pooling``: the first token, as transformers'
sequence classifiers do, or the mean, components.model.mean_pooling). A saved model is loaded
from local files; its base encoder, for training, comes from components.model.base_model.

Every text is normalised first (components.model.normalize), in training and in scoring alike.
A text longer than the window (``max_length`` tokens) is scored whole: cut into windows that
overlap by half their length, each category taking its highest score over them. A violation
is then always in some window with at most half a window of other text before it, which sways
its score less: over 357 positions in a benign text, a threat was flagged at 96% of them against
88% with windows overlapping by a quarter (97% either way at another seed), for a third more
windows in long texts (BENCHMARKS.md).

A loaded model runs on torch or, from the ONNX export the package step adds to its folder, on
ONNX Runtime (components.model.onnx_runtime): the same windows, scores and embeddings.

A model trained with an evidence head (components.model.evidence_head; ``evidence_head: true``
on its card) also scores which characters of a text are evidence of each category.
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from pydantic import BaseModel, Field, ValidationError, model_validator
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    set_seed,
)

from components.config import Pooling
from components.data.canonical import Category, Taxonomy
from components.errors import ModpipeError
from components.model.base_model import TINY_BASE_MODEL, minilm_path, resolve_base_model
from components.model.evidence_head import EvidenceHead, character_scores
from components.model.evidence_lexicon import EvidenceLexicon
from components.model.mean_pooling import MeanPooledClassifier, mean_pooled
from components.model.normalize import NORMALIZATION, normalize
from components.model.within import Within, cap_logits, check_within

if TYPE_CHECKING:
    from components.model.onnx_runtime import OnnxRunner

MODEL_CARD = "moderation.json"
PROBLEM_TYPE = "multi_label_classification"
Classifier = PreTrainedModel | MeanPooledClassifier
Backend = Literal["torch", "onnx"]
BACKENDS = ("torch", "onnx")
# Small enough to train in a second on a CPU. BERT's usual 0.02 init often leaves a model
# this small blind to single words (it settles on text length); 0.1 learns them in a few
# dozen steps, whatever the seed.
_TINY_BERT = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=128,
    initializer_range=0.1,
)


def _label_maps(taxonomy: Taxonomy) -> dict:
    return {
        "num_labels": len(taxonomy.names),
        "problem_type": PROBLEM_TYPE,
        "id2label": dict(enumerate(taxonomy.names)),
        "label2id": {name: i for i, name in enumerate(taxonomy.names)},
    }


def build_classifier(
    base_model: str, taxonomy: Taxonomy, seed: int, pooling: Pooling = "first_token"
) -> tuple[Classifier, PreTrainedTokenizerBase]:
    """A fresh multi-label head on the base encoder; ``seed`` fixes the head's initial weights."""
    reference = resolve_base_model(base_model)
    set_seed(seed)
    if reference == TINY_BASE_MODEL:
        tokenizer = AutoTokenizer.from_pretrained(minilm_path())
        config = BertConfig(
            vocab_size=tokenizer.vocab_size,
            max_position_embeddings=512,
            **_TINY_BERT,
            **_label_maps(taxonomy),
        )
        if pooling == "mean":
            return MeanPooledClassifier(BertModel(config, add_pooling_layer=False)), tokenizer
        return BertForSequenceClassification(config), tokenizer
    model = _load_classifier(reference, pooling, **_label_maps(taxonomy))
    return model, AutoTokenizer.from_pretrained(reference)


def _load_classifier(reference: str | Path, pooling: Pooling, **config) -> Classifier:
    if pooling == "mean":
        return MeanPooledClassifier.from_pretrained(reference, **config)
    return AutoModelForSequenceClassification.from_pretrained(reference, **config)


class ModelCard(BaseModel):
    categories: list[Category] = Field(min_length=1)
    thresholds: dict[str, float]
    base_model: str
    max_length: int = Field(gt=0)
    normalization: str | None = None  # None: a model saved before texts were normalised
    evidence_head: bool = False
    pooling: Pooling = "first_token"
    within: Within = {}  # each narrower category's score is capped at its broader ones'

    @model_validator(mode="after")
    def _a_threshold_per_category(self) -> ModelCard:
        missing = sorted({c.name for c in self.categories} - set(self.thresholds))
        if missing:
            raise ValueError(f"no threshold for {', '.join(missing)}")
        try:
            check_within(self.within, [c.name for c in self.categories])
        except ModpipeError as err:
            raise ValueError(str(err)) from None  # read_model_card names the card
        return self


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class Windows:
    """The token windows of some texts: ``input_ids[w]`` is a window of text ``owners[w]``."""

    input_ids: list[list[int]]
    owners: np.ndarray  # [windows] int: the index of the text each window belongs to
    texts: int
    offsets: list[list[tuple[int, int]]] | None = None  # each token's span of the normalised text

    def pool(self, window_logits: np.ndarray) -> np.ndarray:
        """[texts, k]: each text's highest logit per category over its windows."""
        pooled = np.full((self.texts, window_logits.shape[1]), -np.inf, dtype=np.float32)
        np.maximum.at(pooled, self.owners, window_logits)
        return pooled

    def mean(self, window_vectors: np.ndarray) -> np.ndarray:
        """[texts, dim]: each text's windows' vectors averaged, then L2-normalised."""
        summed = np.zeros((self.texts, window_vectors.shape[1]), dtype=np.float32)
        np.add.at(summed, self.owners, window_vectors)
        norms = np.linalg.norm(summed, axis=1, keepdims=True)
        return summed / np.maximum(norms, 1e-12)


def read_model_card(directory: Path) -> ModelCard:
    """The card of the model saved in ``directory``, without loading its weights."""
    card_path = Path(directory) / MODEL_CARD
    if not card_path.is_file():
        raise ModpipeError(f"{directory}: not a saved moderation model (no {MODEL_CARD})")
    try:
        return ModelCard.model_validate_json(card_path.read_text(encoding="utf-8"))
    except ValidationError as err:
        raise ModpipeError(f"{card_path}: {err.errors()[0]['msg']}") from None


class ModerationModel:
    """A fine-tuned classifier with its tokenizer, categories and decision thresholds.

    It runs on torch (``model``), or on ONNX Runtime (``runner``, an
    :class:`~components.model.onnx_runtime.OnnxRunner`; ``model`` is then None, as the torch
    weights are not loaded).
    """

    def __init__(
        self,
        model: Classifier | None,
        tokenizer: PreTrainedTokenizerBase,
        taxonomy: Taxonomy,
        base_model: str,
        max_length: int,
        thresholds: dict[str, float] | None = None,
        normalization: str | None = NORMALIZATION,
        runner: OnnxRunner | None = None,
        evidence_head: EvidenceHead | None = None,
        evidence_lexicon: EvidenceLexicon | None = None,
        within: Within | None = None,
    ):
        self.model = model
        self.runner = runner
        self.tokenizer = tokenizer
        self.taxonomy = taxonomy
        self.base_model = base_model
        self.max_length = max_length
        self.thresholds = thresholds or {c.name: c.threshold for c in taxonomy.categories}
        self.normalization = normalization
        self.evidence_head = evidence_head
        self.evidence_lexicon = evidence_lexicon
        self.within = within or {}

    @property
    def categories(self) -> list[str]:
        return self.taxonomy.names

    @classmethod
    def load(
        cls,
        directory: Path,
        device: str | torch.device | None = None,
        backend: Backend = "torch",
        int8: bool = False,
        threads: int | None = None,
    ) -> ModerationModel:
        """The model saved in ``directory``, on torch (on ``device``) or on ONNX Runtime (on the
        CPU, from the folder's ``onnx/`` export, with ``threads`` intra-op threads; None: all
        cores; torch's are the process's, ``torch.set_num_threads``). ``int8``: torch's dynamic
        int8 (:meth:`quantize_int8`) or the export's int8 graph."""
        if backend not in BACKENDS:
            raise ModpipeError(f"backend {backend!r}: not one of {', '.join(BACKENDS)}")
        card = read_model_card(directory)
        tokenizer = AutoTokenizer.from_pretrained(directory)
        model, runner, head = None, None, None
        if backend == "onnx":
            from components.model.onnx_runtime import OnnxRunner  # only a model run on it needs it

            runner = OnnxRunner(directory, tokenizer, int8, threads)
            if card.evidence_head and not runner.has_evidence:
                raise ModpipeError(
                    f"{directory}: the ONNX export lacks the evidence head; re-package"
                )
        else:
            model = _load_classifier(directory, card.pooling)
            model.to(device or _default_device())
            if card.evidence_head:
                head = EvidenceHead.load(directory, model.config.hidden_size, len(card.categories))
                head.to(model.device)
        loaded = cls(
            model=model,
            tokenizer=tokenizer,
            taxonomy=Taxonomy(categories=card.categories),
            base_model=card.base_model,
            max_length=card.max_length,
            thresholds=card.thresholds,
            normalization=card.normalization,
            runner=runner,
            evidence_head=head,
            evidence_lexicon=EvidenceLexicon.load(directory) if card.evidence_head else None,
            within=card.within,
        )
        if int8 and backend == "torch":
            loaded.quantize_int8()
        return loaded

    def _torch_only(self, action: str) -> None:
        if self.runner is not None:
            raise ModpipeError(
                f"{action} needs the torch weights: load the model with backend torch"
            )

    def quantize_int8(self) -> None:
        """Dynamic int8 quantisation of the linear layers, for CPU inference (about 2x faster).

        ``torch.ao.quantization`` is deprecated in favour of torchao, whose CPU path needs
        ``torch.compile``; this one still runs eagerly on every x86 and ARM CPU.
        """
        self._torch_only("torch int8 quantisation (ONNX Runtime has its own: int8=True)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
            self.encoder_id  # noqa: B018  (named by its float weights, before they change)
            self.model = torch.ao.quantization.quantize_dynamic(
                self.model.cpu(), {torch.nn.Linear}, dtype=torch.qint8
            )
        if self.evidence_head is not None:
            self.evidence_head.cpu()  # kept in float: one small layer

    def save(self, directory: Path) -> Path:
        self._torch_only("saving a model")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        card = ModelCard(
            categories=self.taxonomy.categories,
            thresholds=self.thresholds,
            base_model=self.base_model,
            max_length=self.max_length,
            normalization=self.normalization,
            evidence_head=self.evidence_head is not None,
            pooling="mean" if isinstance(self.model, MeanPooledClassifier) else "first_token",
            within=self.within,
        )
        if self.evidence_head is not None:
            self.evidence_head.save(directory)
        if self.evidence_lexicon is not None:
            self.evidence_lexicon.save(directory)
        (directory / MODEL_CARD).write_text(card.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return directory

    def prepare(self, texts: list[str]) -> list[str]:
        """The texts as the model reads them: normalised, when the model was trained so."""
        return [normalize(t) for t in texts] if self.normalization else list(texts)

    def encode(self, texts: list[str], offsets: bool = False) -> dict[str, torch.Tensor]:
        """One batch of texts as model inputs, each cut to its first window (for training);
        ``offsets``: with each token's ``offset_mapping`` in the normalised text."""
        return self.tokenizer(
            self.prepare(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_offsets_mapping=offsets,
            return_tensors="pt",
        )

    def encode_lengths(self, texts: list[str]) -> list[int]:
        """How many tokens :meth:`encode` gives each text, before padding."""
        encoded = self.tokenizer(self.prepare(texts), truncation=True, max_length=self.max_length)
        return [len(ids) for ids in encoded["input_ids"]]

    def windows(self, texts: list[str], offsets: bool = False) -> Windows:
        """Every text's windows of at most ``max_length`` tokens; a short text has one."""
        if not texts:
            return Windows(input_ids=[], owners=np.zeros(0, dtype=np.int64), texts=0, offsets=[])
        encoded = self.tokenizer(
            self.prepare(texts),
            truncation=True,
            max_length=self.max_length,
            stride=self.max_length // 2,
            return_overflowing_tokens=True,
            return_offsets_mapping=offsets,
        )
        owners = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)
        return Windows(encoded["input_ids"], owners, len(texts), encoded.get("offset_mapping"))

    @torch.inference_mode()
    def score_windows(self, input_ids: list[list[int]]) -> np.ndarray:
        """[windows, k] raw logits of one batch of windows."""
        return self.forward_windows(input_ids, embed=False)[0]

    @torch.inference_mode()
    def forward_windows(
        self, input_ids: list[list[int]], embed: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """One batch of windows: [windows, k] logits (each narrower category's capped at its
        broader ones', the card's ``within``) and, when ``embed``, [windows, dim] mean pooled
        last hidden states (the encoder's view of the text, free in the same pass)."""
        if self.runner is not None:
            logits, pooled = self.runner.forward_windows(input_ids, embed)
        else:
            logits, pooled = self._forward_torch(input_ids, embed)
        return cap_logits(logits, self.within, self.categories), pooled

    def _forward_torch(
        self, input_ids: list[list[int]], embed: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        self.model.eval()
        device = next(self.model.parameters()).device
        batch = self.tokenizer.pad({"input_ids": input_ids}, return_tensors="pt").to(device)
        output = self.model(**batch, output_hidden_states=embed)
        logits = output.logits.float().cpu().numpy()
        if not embed:
            return logits, np.zeros((len(input_ids), 0), dtype=np.float32)
        pooled = mean_pooled(output.hidden_states[-1].float(), batch["attention_mask"])
        return logits, pooled.cpu().numpy()

    @property
    def has_evidence_head(self) -> bool:
        return self.runner.has_evidence if self.runner is not None else bool(self.evidence_head)

    @torch.inference_mode()
    def evidence_windows(self, input_ids: list[list[int]]) -> np.ndarray:
        """[windows, tokens, k] evidence logits of one batch of windows, padded at the end."""
        if self.runner is not None:
            return self.runner.evidence_windows(input_ids)
        self.model.eval()
        self.evidence_head.eval()
        device = next(self.model.parameters()).device
        batch = self.tokenizer.pad({"input_ids": input_ids}, return_tensors="pt").to(device)
        hidden = self.model(**batch, output_hidden_states=True).hidden_states[-1]
        return self.evidence_head(hidden).float().cpu().numpy()

    def evidence_scores(self, texts: list[str], batch_size: int = 64) -> list[np.ndarray]:
        """Per text, [len(text), k]: the probability that each character of the original text
        is evidence of each category (the highest over the windows covering it; 0 for
        whitespace between tokens and characters the normaliser dropped). Needs the head."""
        return character_scores(self, texts, batch_size)

    def _predict(self, texts: list[str], batch_size: int, embed: bool):
        """Windows batched by length (each batch pads to a similar size), pooled per text."""
        windows = self.windows(texts)
        order = np.argsort([len(ids) for ids in windows.input_ids], kind="stable")
        logits = np.zeros((len(order), len(self.categories)), dtype=np.float32)
        vectors = np.zeros((len(order), self.embedding_dim if embed else 0), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            logits[chunk], vectors[chunk] = self.forward_windows(
                [windows.input_ids[i] for i in chunk], embed
            )
        return windows.pool(logits), windows.mean(vectors) if embed else None

    def predict_logits(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """[n, k] logits in the order of ``texts``: per category, the highest of its windows."""
        return self._predict(texts, batch_size, embed=False)[0]

    def predict_scores(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """[n, k] sigmoid probabilities, one column per category, in the order of ``texts``."""
        return sigmoid(self.predict_logits(texts, batch_size))

    def predict_with_embeddings(
        self, texts: list[str], batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """[n, k] scores and [n, dim] L2-normalised embeddings (a long text's windows averaged),
        from one forward pass: recall and mining compare texts by them."""
        logits, vectors = self._predict(texts, batch_size, embed=True)
        return sigmoid(logits), vectors

    @property
    def embedding_dim(self) -> int:
        if self.runner is not None:
            return self.runner.manifest.embedding_dim
        return int(self.model.config.hidden_size)

    @functools.cached_property
    def encoder_id(self) -> str:
        """Names the embedding space: the base model and a digest of the encoder's weights, so
        an index of embeddings is never queried with vectors from another model. On ONNX
        Runtime, that of the torch weights it was exported from (recorded at export)."""
        if self.runner is not None:
            return self.runner.manifest.encoder_id
        digest = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            if tensor.is_floating_point() and "classifier" not in name:
                digest.update(name.encode())
                digest.update(tensor.detach().float().cpu().numpy().tobytes())
        return f"{Path(self.base_model).name}@{digest.hexdigest()[:12]}"


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return torch.sigmoid(torch.from_numpy(logits)).numpy()
