"""The rationale of a row: why it is labelled as it is, in the canonical rows' ``rationale`` field.

A rationale is either a plain sentence (the seed corpus's one-line reasons) or an object:

- ``evidence``: the spans that carry a violation, merged over annotators: character offsets
  into the row's text as Python slices (``text[start:end]``, end exclusive), each tied to a
  category by ``type``, with the number of ``annotators`` who marked it when known;
- ``annotators``: how many annotators judged the item, when known: a span's ``annotators`` over
  it is the share of them who marked the span (evaluation takes as gold the characters at least
  half of them marked: components.model.evidence_quality);
- ``judgements``: one per annotator (a person, or an LLM backend named ``llm:MODEL``): the
  ``policy_version`` judged against, the ``seconds`` spent, and per category a ``decision``
  (``violates``, ``does_not_violate`` or ``unsure``) with the ``reasoning`` steps (policy
  clause -> evidence -> context -> decision) and that annotator's own evidence spans;
- ``note``: free text.

One annotator's spans of one category must not overlap (they would be one span); merged
evidence may overlap, since annotators disagree on where a span ends.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DECISIONS = ("violates", "does_not_violate", "unsure")
Decision = Literal["violates", "does_not_violate", "unsure"]
# A span type that is no category: evidence a source could not type (Toxic Spans' "other
# toxicity"), which supports only its dataset's broadest category.
UNTYPED_EVIDENCE = {"other"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvidenceSpan(Strict):
    start: int = Field(ge=0)
    end: int = Field(gt=0)
    type: str = Field(min_length=1)  # the category the span is evidence of
    annotators: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> EvidenceSpan:
        if self.end <= self.start:
            raise ValueError(f"span {self.start}-{self.end} ends before it starts")
        return self


class Reasoning(Strict):
    policy_clause: str = ""
    evidence: str = ""
    context: str = ""
    decision: str = ""


class CategoryJudgement(Strict):
    decision: Decision
    reasoning: Reasoning | None = None


class Judgement(Strict):
    annotator: str = Field(min_length=1)
    policy_version: str | None = None
    seconds: float | None = Field(default=None, ge=0)
    categories: dict[str, CategoryJudgement] = Field(min_length=1)
    evidence: list[EvidenceSpan] = []

    @model_validator(mode="after")
    def _spans_apart(self) -> Judgement:
        by_type = sorted(self.evidence, key=lambda span: (span.type, span.start))
        for before, after in zip(by_type, by_type[1:], strict=False):
            if before.type == after.type and after.start < before.end:
                raise ValueError(
                    f"{self.annotator}'s {before.type} spans {before.start}-{before.end} and "
                    f"{after.start}-{after.end} overlap (one span should cover both)"
                )
        return self


class Rationale(Strict):
    evidence: list[EvidenceSpan] = []
    judgements: list[Judgement] = []
    note: str | None = None
    annotators: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _fewer_markers_than_annotators(self) -> Rationale:
        for span in self.evidence:
            if self.annotators and span.annotators and span.annotators > self.annotators:
                raise ValueError(
                    f"span {span.start}-{span.end} is marked by {span.annotators} annotators, "
                    f"more than the {self.annotators} who judged the item"
                )
        return self

    def share(self, span: EvidenceSpan) -> float:
        """The share of the item's annotators who marked ``span``; 1 where either count is
        unknown."""
        if self.annotators and span.annotators:
            return span.annotators / self.annotators
        return 1.0


def parse_rationale(value) -> Rationale:
    """A rationale from its stored form (a plain sentence or an object); ValueError says why."""
    if isinstance(value, str):
        return Rationale(note=value)
    if not isinstance(value, dict):
        raise ValueError(f"a rationale is a sentence or an object, not {type(value).__name__}")
    try:
        return Rationale.model_validate(value)
    except ValidationError as err:
        raise ValueError("; ".join(_problem(error) for error in err.errors())) from None


def _problem(error: dict) -> str:
    where = ".".join(map(str, error["loc"]))
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def check_rationale(value, text: str, categories: list[str]) -> Rationale:
    """:func:`parse_rationale`, plus: every span lies inside ``text`` and every span and
    judgement names one of ``categories`` (a span may also be of :data:`UNTYPED_EVIDENCE`)."""
    rationale = parse_rationale(value)
    known = set(categories) | UNTYPED_EVIDENCE
    spans = list(rationale.evidence)
    for judgement in rationale.judgements:
        spans += judgement.evidence
        unknown = sorted(set(judgement.categories) - set(categories))
        if unknown:
            raise ValueError(f"{judgement.annotator} judges unknown categories: {unknown}")
    for span in spans:
        if span.end > len(text):
            raise ValueError(
                f"span {span.start}-{span.end} reaches past the text ({len(text)} characters)"
            )
        if span.type not in known:
            raise ValueError(
                f"span {span.start}-{span.end} is evidence of {span.type!r}, no category here"
            )
    return rationale


def dump_rationale(rationale: Rationale) -> dict | str:
    """The stored form: a plain sentence stays one; objects leave out what is unset."""
    if rationale.note is not None and rationale == Rationale(note=rationale.note):
        return rationale.note
    return rationale.model_dump(exclude_none=True, exclude_defaults=True)
