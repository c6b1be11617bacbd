"""The moderation HTTP service: ``POST /moderate`` scores and flags texts per category.

Which BentoML model it serves: the tag in ``$MODPIPE_MODEL_TAG`` if set, else the one the bento
was built around (the ``model_tag`` bento argument that components.package records), else the
latest ``moderation-classifier``. The model loads once per worker. ``/moderate`` validates the
request and hands the texts to ``/score``, which BentoML batches across concurrent requests.
"""

import os
import uuid
from typing import Annotated

import bentoml
import numpy as np
import torch
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from components.modeling import ModerationModel
from components.package import BENTO_MODEL_NAME, MODEL_SUBDIR, MODEL_TAG_ARGUMENT, MODEL_TAG_ENV

MAX_TEXTS = 256
MAX_TEXT_CHARS = 10_000
WORKERS = 1

Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]
Texts = Annotated[list[Text], Field(min_length=1, max_length=MAX_TEXTS)]
Threshold = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


def as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


class ServiceRequest(BaseModel):
    # BentoML logs failed validations; users' texts must stay out of the logs.
    model_config = ConfigDict(hide_input_in_errors=True, extra="forbid")


class ModerationRequest(ServiceRequest):
    input: Annotated[Texts, BeforeValidator(as_list)] = Field(
        description=f"a text, or a list of 1 to {MAX_TEXTS}; each up to {MAX_TEXT_CHARS} characters"
    )
    thresholds: dict[str, Threshold] | None = Field(
        default=None, description="per-category cut-offs that replace the model's own"
    )


class ScoreRequest(ServiceRequest):
    texts: Texts


class ModerationResult(BaseModel):
    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]


class ModerationResponse(BaseModel):
    id: str
    model: str
    model_version: str | None
    dataset_version: str | None
    results: list[ModerationResult]


def served_model_tag() -> str:
    bento_argument = getattr(bentoml.use_arguments(), MODEL_TAG_ARGUMENT, None)
    return os.environ.get(MODEL_TAG_ENV) or bento_argument or f"{BENTO_MODEL_NAME}:latest"


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a cpuset), not all the host's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def unknown_categories_error(names: list[str], categories: list[str]) -> ValidationError:
    """The same 400 response shape that BentoML gives for a request failing its schema."""
    message = PydanticCustomError(
        "unknown_category", "not a category of this model; it has: {categories}",
        {"categories": ", ".join(categories)},
    )
    return ValidationError.from_exception_data(
        ModerationRequest.__name__,
        [{"type": message, "loc": ("thresholds", name), "input": name} for name in names],
        hide_input=True,
    )


# BentoML's client for the /moderate -> /score hop renews its session every 100 requests or
# 300 s by closing it under the requests still in flight, which then fail with a 500
# (bentoml 1.4.30 to at least 1.4.39). The hop stays inside the process: never renew it.
NEVER_RENEW = {"max_requests": 2**31 - 1, "max_age": 1e9}


@bentoml.service(
    name="moderation", workers=WORKERS, traffic={"timeout": 60}, runner_connection=NEVER_RENEW
)
class ModerationService:
    bento_model = bentoml.models.BentoModel(served_model_tag())

    def __init__(self) -> None:
        torch.set_num_threads(max(1, cpu_count() // WORKERS))
        stored = self.bento_model
        self.model = ModerationModel.load(stored.path_of(MODEL_SUBDIR))
        self.model_tag = str(stored.tag)
        self.model_version = stored.info.labels.get("model_version")
        self.dataset_version = stored.info.labels.get("dataset_version")
        self.thresholds = {
            c.name: self.model.thresholds.get(c.name, c.threshold)
            for c in self.model.taxonomy.categories
        }

    @bentoml.api(
        batchable=True, max_batch_size=64, max_latency_ms=30_000, input_spec=ScoreRequest
    )
    def score(self, texts: list[str]) -> np.ndarray:
        """Sigmoid scores, one row per text, one column per category in the model's order."""
        return self.model.predict_scores(texts)

    @bentoml.api(input_spec=ModerationRequest)
    async def moderate(
        self, input: list[str], thresholds: dict[str, float] | None
    ) -> ModerationResponse:
        """Flag each text per category; ``thresholds`` overrides the model's own cut-offs."""
        cutoffs = self.cutoffs(thresholds or {})
        scores = np.asarray(await self.to_async.score(input))
        return ModerationResponse(
            id=f"modr-{uuid.uuid4().hex}",
            model=self.model_tag,
            model_version=self.model_version,
            dataset_version=self.dataset_version,
            results=[self.result(row, cutoffs) for row in scores],
        )

    def cutoffs(self, overrides: dict[str, float]) -> dict[str, float]:
        unknown = [name for name in overrides if name not in self.thresholds]
        if unknown:
            raise unknown_categories_error(unknown, self.model.categories)
        return {**self.thresholds, **overrides}

    def result(self, scores: np.ndarray, cutoffs: dict[str, float]) -> ModerationResult:
        named = {name: float(s) for name, s in zip(self.model.categories, scores, strict=True)}
        flags = {name: score >= cutoffs[name] for name, score in named.items()}
        return ModerationResult(
            flagged=any(flags.values()), categories=flags, category_scores=named
        )
