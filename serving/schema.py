"""What the moderation service takes and answers: its request and answer models, with the
limits of its settings (the bento's ``serving`` argument, ``MODPIPE_SERVE_<NAME>`` on top).

The guard validates requests with these models before BentoML sees them (serving.guard), and
BentoML documents them in its OpenAPI page. ``/moderate``'s ``input`` is a text, a list of
texts (a result each), or a list of omni-moderation's content parts, ``text`` and
``image_url``, with one result for them all.
"""

from typing import Annotated, Literal

import bentoml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StringConstraints,
    Tag,
    ValidationInfo,
    field_validator,
    model_serializer,
)
from pydantic_core import PydanticCustomError

from components.model.vision.known import KnownImageMatch
from serving.evidence import Evidence
from serving.images import remote_host
from serving.matches import Match
from serving.settings import SERVING_ARGUMENT, resolve_settings

BENTO_ARGUMENTS = bentoml.use_arguments()
SETTINGS = resolve_settings(getattr(BENTO_ARGUMENTS, SERVING_ARGUMENT, None))
INPUT_TYPES = TEXT, IMAGE = "text", "image"  # of category_applied_input_types
InputType = Literal["text", "image"]
MAX_IMAGE_URL_CHARS = 4 * -(-SETTINGS.max_image_bytes // 3) + 256  # base64, and its header

Text = Annotated[str, StringConstraints(max_length=SETTINGS.max_text_chars)]
Texts = Annotated[list[Text], Field(min_length=1, max_length=SETTINGS.max_texts)]
Threshold = Annotated[float, Strict(), Field(ge=0.0, le=1.0, allow_inf_nan=False)]  # no "0.5"
Thresholds = Annotated[
    dict[str, Threshold] | None,
    Field(description="per-category cut-offs that replace the model's own"),
]


def as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


def input_kind(value: object) -> str:
    """A list of objects is omni-moderation's content parts; anything else is texts."""
    is_parts = isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
    return "parts" if is_parts else "texts"


class ServiceRequest(BaseModel):
    # BentoML logs failed validations; users' texts must stay out of the logs.
    model_config = ConfigDict(hide_input_in_errors=True, extra="forbid")


class ThresholdedRequest(ServiceRequest):
    thresholds: Thresholds = None

    @field_validator("thresholds")
    @classmethod
    def _known_categories(cls, thresholds: dict | None, info: ValidationInfo) -> dict | None:
        # The guard validates with the model's categories; BentoML's second pass has none.
        known = (info.context or {}).get("categories")
        unknown = [name for name in thresholds or {} if known is not None and name not in known]
        if unknown:
            raise PydanticCustomError(
                "unknown_category",
                "{name} is not a category of this model; it has: {categories}",
                {"name": repr(unknown[0][:32]), "categories": ", ".join(known)},
            )
        return thresholds


class TextPart(ServiceRequest):
    type: Literal["text"]
    text: Text


class ImageURL(ServiceRequest):
    url: str = Field(
        description="a data URL (data:image/png;base64,...), or an http(s) URL on a host the "
        "service allows"
    )

    @field_validator("url")
    @classmethod
    def _fetchable(cls, url: str) -> str:
        """What can be told from the URL alone; its image is decoded by the guard."""
        if not SETTINGS.images:
            raise PydanticCustomError("images_off", "this service does not take images")
        host = remote_host(url)
        if host is None and not url.startswith("data:"):
            raise PydanticCustomError(
                "not_a_data_url", "an image URL is a data URL (data:image/...;base64,...)"
            )
        if host is not None and host not in SETTINGS.image_hosts:
            raise PydanticCustomError(
                "image_host_not_allowed",
                "{host} is not a host this service fetches images from; send a data URL",
                {"host": repr(host[:64])},
            )
        if len(url) > MAX_IMAGE_URL_CHARS:
            raise PydanticCustomError(
                "too_large",
                "the image is over the limit of {limit} bytes",
                {"limit": f"{SETTINGS.max_image_bytes:,}"},
            )
        return url


class ImagePart(ServiceRequest):
    type: Literal["image_url"]
    image_url: ImageURL


Part = Annotated[TextPart | ImagePart, Field(discriminator="type")]
Parts = Annotated[list[Part], Field(min_length=1, max_length=SETTINGS.max_texts)]
Input = Annotated[
    Annotated[Texts, Tag("texts")] | Annotated[Parts, Tag("parts")],
    Discriminator(input_kind),
    BeforeValidator(as_list),
]


class ModerationRequest(ThresholdedRequest):
    input: Input = Field(
        description=f"a text, or a list of 1 to {SETTINGS.max_texts} (a result each), each up "
        f"to {SETTINGS.max_text_chars} characters; or a list of content parts, text and up to "
        f"{SETTINGS.max_images} image_url (one result for them all)"
    )

    @field_validator("input")
    @classmethod
    def _images_within_limit(cls, value: list) -> list:
        images = sum(isinstance(part, ImagePart) for part in value)
        if images > SETTINGS.max_images:
            raise PydanticCustomError(
                "too_many_images",
                "{count} images in one request, over the limit of {limit}",
                {"count": images, "limit": SETTINGS.max_images},
            )
        return value

    @staticmethod
    def error_location(loc: tuple) -> tuple:
        """A location without the union tags pydantic puts in it: ``input.1.image_url.url``,
        not ``input.parts.1.image_url.image_url.url``."""
        if loc[1:2] in (("texts",), ("parts",)):
            loc = loc[:1] + loc[2:]
        if len(loc) > 2 and isinstance(loc[1], int) and loc[2] in ("text", "image_url"):
            loc = loc[:2] + loc[3:]
        return loc

    def texts(self) -> list[str]:
        """The texts to score (for admission); the text in images is not known yet."""
        return [
            part.text if isinstance(part, TextPart) else part
            for part in self.input
            if not isinstance(part, ImagePart)
        ]

    def image_urls(self) -> list[tuple[list, str]]:
        """Each image part's URL, with where it is in the request (for errors)."""
        return [
            (["input", i, "image_url", "url"], part.image_url.url)
            for i, part in enumerate(self.input)
            if isinstance(part, ImagePart)
        ]


class RankItem(ServiceRequest):
    id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    text: Text


class RankRequest(ThresholdedRequest):
    items: Annotated[list[RankItem], Field(min_length=1, max_length=SETTINGS.max_texts)] = Field(
        description=f"1 to {SETTINGS.max_texts} items, each with its own id"
    )

    def texts(self) -> list[str]:
        return [item.text for item in self.items]

    @field_validator("items")
    @classmethod
    def _unique_ids(cls, items: list[RankItem]) -> list[RankItem]:
        ids = [item.id for item in items]
        if len(set(ids)) < len(ids):
            raise PydanticCustomError("duplicate_id", "item ids must be unique")
        return items


class Answer(BaseModel):
    """What every answer carries: which model (and data) gave it."""

    id: str
    model: str
    model_version: str | None
    dataset_version: str | None


class ModerationResult(BaseModel):
    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]
    category_applied_input_types: dict[str, list[InputType]] = Field(
        description="per category, the inputs its decision came from: those that flagged it, "
        "or, when none did, the one with the highest score"
    )
    matches: list[Match] | None = Field(
        default=None,
        description="known violations this similar to the text, most similar first; each "
        "flags its category (only when the service matches)",
    )
    known_images: list[KnownImageMatch] | None = Field(
        default=None,
        description="known violating images the request's images are copies of (perceptual "
        "hashes); each flags its category (only for requests with images)",
    )
    evidence: dict[str, list[Evidence]] | None = Field(
        default=None,
        description="per category the classifier flagged, the spans of the text that carry the "
        "decision, in text order, at most evidence_max_spans per text (only when the service "
        "explains)",
    )

    @model_serializer(mode="wrap")
    def _extras_only_when_given(self, serialize):
        # Without matching or images, the answer is exactly OpenAI's shape: no such keys. (No
        # return annotation: with one, pydantic would document the answer as any object.)
        data = serialize(self)
        for extra in ("matches", "known_images", "evidence"):
            if getattr(self, extra) is None:
                data.pop(extra, None)
        return data


class ModerationResponse(Answer):
    results: list[ModerationResult]


class RankedItem(BaseModel):
    id: str
    score: float = Field(description="the item's highest category score")
    category: str = Field(description="the category of that score")
    flagged: bool


class RankResponse(Answer):
    results: list[RankedItem] = Field(description="highest risk first")


def input_kind_of(value: list) -> str:
    """As :func:`input_kind`, for the validated input BentoML passes to the API."""
    return "parts" if value and isinstance(value[0], TextPart | ImagePart) else "texts"
