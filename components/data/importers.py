"""Public moderation datasets -> the canonical form (a card and a frame).

:func:`import_dataset` reads every format: davidson, jigsaw, openai-moderation and the generic
csv and jsonl here; the others in modules of their own (toxic_spans, convabuse, and single_label
for sms-spam and bias-madlibs). Reading files into rows is :mod:`tables`' job.
Pure: nothing is written here; the CLI writes with :func:`canonical.write_dataset`.
Texts are kept exactly as given (no cleaning). A label that the source leaves out (an empty
cell, a JSON null, a key absent from a line) stays unknown (``<NA>``), never 0.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ValidationError

from components.data.annotated import INSULT, THREAT, TOXIC
from components.data.canonical import Category, DatasetCard, load_taxonomy
from components.data.convabuse import import_convabuse
from components.data.single_label import import_bias_madlibs, import_sms_spam
from components.data.tables import (
    Table,
    canonical_frame,
    label_lists,
    read_csv_table,
    read_jsonl_table,
    row_ids,
    texts_of,
)
from components.data.toxic_spans import import_toxic_spans
from components.errors import ModpipeError

FORMATS = (
    "davidson",
    "jigsaw",
    "openai-moderation",
    "csv",
    "jsonl",
    "toxic-spans",
    "convabuse",
    "sms-spam",
    "bias-madlibs",
)
GENERIC_FORMATS = ("csv", "jsonl")


class ColumnMapping(BaseModel):
    """Where the generic csv/jsonl formats find text, id and labels."""

    text: str = "text"
    id: str | None = None  # None: ids are made from the row number
    labels: dict[str, str] = {}  # category name -> source column
    taxonomy: Path | None = None  # default: configs/taxonomy.yaml where names match, else generic
    source: str | None = None  # the rows' `source`; default: the file's stem


# --- categories ---------------------------------------------------------------------------------


def _generic_category(name: str, source: str) -> Category:
    try:
        return Category(
            name=name, description=f"Content labelled {name.replace('_', ' ')} in {source}."
        )
    except ValidationError:
        raise ModpipeError(
            f"category name {name!r}: use lowercase letters, digits and underscores, "
            "starting with a letter"
        ) from None


def _described(names: list[str], own: dict[str, Category], source: str) -> list[Category]:
    """configs/taxonomy.yaml's entry where a name is there, else ``own``'s, else a generic one."""
    policy = {c.name: c for c in load_taxonomy().categories}
    return [policy.get(n) or own.get(n) or _generic_category(n, source) for n in names]


def _from_taxonomy_file(path: Path, names: list[str]) -> list[Category]:
    if path.is_dir():
        raise ModpipeError(f"{path}: is a directory, expected a YAML taxonomy file")
    taxonomy = {c.name: c for c in load_taxonomy(path).categories}
    missing = [n for n in names if n not in taxonomy]
    if missing:
        raise ModpipeError(f"{path}: no category {', '.join(map(repr, missing))} in this taxonomy")
    return [taxonomy[n] for n in names]


# --- formats ------------------------------------------------------------------------------------

DAVIDSON_VOTES = ("hate_speech", "offensive_language", "neither")  # index = the `class` value
DAVIDSON_CATEGORIES = [
    Category(
        name="hate",
        description=(
            "Hate speech: language that expresses hatred towards a group of people, or is meant "
            "to demean, humiliate or insult its members, because of their race, ethnicity, "
            "religion, gender, sexual orientation or another shared trait."
        ),
        severity="high",
        threshold=0.5,
    ),
    Category(
        name="offensive",
        description=(
            "Offensive language that is not hate speech: profanity, vulgar insults and slurs used "
            "casually, rude or crude content that does not attack a group of people."
        ),
        severity="low",
        threshold=0.5,
    ),
]


def _count(row: dict, column: str) -> int:
    value = row[column]
    if not value.strip().isdecimal():
        raise ValueError(f"{column!r} is {value!r}, expected a whole number")
    return int(value)


def _davidson_row(row: dict) -> tuple[int, int, float, dict[str, float]]:
    """hate, offensive, agreement (the share of annotators who voted for the row's class) and
    the soft labels (the shares who voted hate and offensive)."""
    klass = _count(row, "class")
    if klass >= len(DAVIDSON_VOTES):
        raise ValueError(f"'class' is {row['class']!r}, expected 0, 1 or 2")
    total, votes = _count(row, "count"), _count(row, DAVIDSON_VOTES[klass])
    if not 0 < votes <= total:
        raise ValueError(f"{votes} votes for class {klass} out of a count of {total}")
    shares = {
        "hate": _count(row, "hate_speech") / total,
        "offensive": _count(row, "offensive_language") / total,
    }
    return int(klass == 0), int(klass == 1), votes / total, shares


def _import_davidson(path: Path) -> tuple[DatasetCard, pd.DataFrame]:
    table = read_csv_table(path)
    table.require(["count", *DAVIDSON_VOTES, "class", "tweet"])
    row_numbers = table.columns[0]
    if not row_numbers.startswith("Unnamed: "):
        raise ModpipeError(f"{path}: the first column should be the unnamed row number")
    parsed = []
    for index, row in enumerate(table.rows):
        try:
            parsed.append(_davidson_row(row))
        except ValueError as err:
            raise table.error(index, str(err)) from None
    hate, offensive, agreement, shares = (list(column) for column in zip(*parsed, strict=True))
    ids = [f"davidson-{n}" for n in row_ids(table, row_numbers, "davidson")]
    labels = {"hate": hate, "offensive": offensive}
    texts = texts_of(table, "tweet")
    frame = canonical_frame(ids, texts, labels, "davidson", agreement=agreement, soft_labels=shares)
    card = DatasetCard(
        name="davidson",
        source="davidson",
        description=(
            "Tweets labelled hate speech, offensive language or neither by crowd annotators "
            "(Davidson et al., ICWSM 2017). The two labels never co-occur; agreement is the share "
            "of annotators who chose the row's class, soft_labels the shares who chose hate and "
            "offensive."
        ),
        categories=DAVIDSON_CATEGORIES,
    )
    return card, frame


# toxic, threat and insult: the Jigsaw definitions, shared with the Civil Comments datasets
JIGSAW_CATEGORIES = [
    TOXIC,
    Category(
        name="severe_toxic",
        description="Very hateful, aggressive or disrespectful content that is very likely to "
        "make people leave a discussion.",
        severity="high",
    ),
    Category(
        name="obscene",
        description="Swearing, cursing, or crude and sexually vulgar language.",
        severity="low",
    ),
    THREAT,
    INSULT,
    Category(
        name="identity_hate",
        description="Hateful or demeaning content about people because of their identity, "
        "such as race, religion, gender, sexual orientation or disability.",
        severity="high",
    ),
]

OPENAI_CODES = {
    "sexual": "S",
    "hate": "H",
    "violence": "V",
    "harassment": "HR",
    "self_harm": "SH",
    "sexual_minors": "S3",
    "hate_threatening": "H2",
    "violence_graphic": "V2",
}
# Used only where configs/taxonomy.yaml has no entry of the same name.
OPENAI_CATEGORIES = {
    c.name: c
    for c in [
        Category(
            name="sexual_minors",
            description="Sexual content that involves or depicts anyone under 18 years old.",
            severity="critical",
            threshold=0.3,
        ),
        Category(
            name="hate_threatening",
            description="Hateful content that also threatens or calls for violence or serious "
            "harm against the targeted group.",
            severity="critical",
            threshold=0.4,
        ),
        Category(
            name="violence_graphic",
            description="Content that depicts death, violence or serious physical injury in "
            "graphic detail.",
            severity="high",
        ),
    ]
}


def _import_mapped(
    table: Table,
    mapping: ColumnMapping,
    categories: list[Category],
    source: str,
    labels_may_be_absent: bool = False,
    **card,
) -> tuple[DatasetCard, pd.DataFrame]:
    label_columns = [] if labels_may_be_absent else mapping.labels.values()
    table.require([mapping.text, *([mapping.id] if mapping.id else []), *label_columns])
    ids = row_ids(table, mapping.id, source)
    labels = label_lists(table, mapping.labels)
    frame = canonical_frame(ids, texts_of(table, mapping.text), labels, source)
    return DatasetCard(source=source, categories=categories, **card), frame


def _import_jigsaw(path: Path) -> tuple[DatasetCard, pd.DataFrame]:
    mapping = ColumnMapping(
        text="comment_text", id="id", labels={c.name: c.name for c in JIGSAW_CATEGORIES}
    )
    return _import_mapped(
        read_csv_table(path),
        mapping,
        JIGSAW_CATEGORIES,
        "jigsaw",
        name="jigsaw",
        description="Wikipedia talk-page comments in the Jigsaw Toxic Comment Classification "
        "format, with six 0/1 labels.",
    )


def _import_openai(path: Path) -> tuple[DatasetCard, pd.DataFrame]:
    source = "openai-moderation"
    return _import_mapped(
        read_jsonl_table(path),
        ColumnMapping(text="prompt", labels=OPENAI_CODES),
        _described(list(OPENAI_CODES), OPENAI_CATEGORIES, source),
        source,
        labels_may_be_absent=True,  # a code absent from a line is unknown, even on every line
        name=source,
        description="OpenAI moderation evaluation set (Markov et al., 2022, "
        "github.com/openai/moderation-api-release); a category code absent from a line is "
        "an unknown label.",
    )


def _import_generic(
    fmt: str, path: Path, mapping: ColumnMapping
) -> tuple[DatasetCard, pd.DataFrame]:
    table = read_csv_table(path) if fmt == "csv" else read_jsonl_table(path)
    if not mapping.labels:
        raise ModpipeError(
            f"{path}: name the label columns (category=column); "
            f"its columns are: {', '.join(map(repr, table.columns))}"
        )
    source = mapping.source or path.stem
    names = list(mapping.labels)
    categories = (
        _from_taxonomy_file(mapping.taxonomy, names)
        if mapping.taxonomy
        else _described(names, {}, source)
    )
    return _import_mapped(
        table,
        mapping,
        categories,
        source,
        name=path.stem,
        description=f"Imported from {path.name} ({fmt}).",
    )


def import_dataset(
    fmt: str, source: Path, mapping: ColumnMapping | None = None
) -> tuple[DatasetCard, pd.DataFrame]:
    """Read a public dataset of format ``fmt`` (a file, or for toxic-spans and convabuse a
    folder) into a canonical card and frame.

    ``mapping`` applies to the generic ``csv`` and ``jsonl`` formats only; the named formats
    know their own columns and taxonomy. Bad input raises a ModpipeError.
    """
    if fmt not in FORMATS:
        raise ModpipeError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    path = Path(source)
    if fmt in GENERIC_FORMATS:
        return _import_generic(fmt, path, mapping or ColumnMapping())
    if mapping is not None and mapping != ColumnMapping():
        raise ModpipeError(
            f"format {fmt!r} knows its own columns; a column mapping applies only to "
            f"{' and '.join(GENERIC_FORMATS)}"
        )
    importers = {
        "davidson": _import_davidson,
        "jigsaw": _import_jigsaw,
        "openai-moderation": _import_openai,
        "toxic-spans": import_toxic_spans,
        "convabuse": import_convabuse,
        "sms-spam": import_sms_spam,
        "bias-madlibs": import_bias_madlibs,
    }
    return importers[fmt](path)
