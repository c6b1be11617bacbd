"""Public moderation datasets -> the canonical form (a card and a frame).

Pure: nothing is written here; the CLI writes with :func:`canonical.write_dataset`.
Texts are kept exactly as given (no cleaning). A label that the source leaves out (an empty
cell, a JSON null, a key absent from a line) stays unknown (``<NA>``), never 0.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ValidationError

from components.data.canonical import (
    Category,
    DatasetCard,
    frame_from_records,
    load_taxonomy,
    read_jsonl,
    read_text,
)
from components.errors import ModpipeError

FORMATS = ("davidson", "jigsaw", "openai-moderation", "csv", "jsonl")
GENERIC_FORMATS = ("csv", "jsonl")


class ColumnMapping(BaseModel):
    """Where the generic csv/jsonl formats find text, id and labels."""

    text: str = "text"
    id: str | None = None  # None: ids are made from the row number
    labels: dict[str, str] = {}  # category name -> source column
    taxonomy: Path | None = None  # default: configs/taxonomy.yaml where names match, else generic
    source: str | None = None  # the rows' `source`; default: the file's stem


# --- reading a source file into rows, remembering how to point at a row's line ---------------


@dataclass(frozen=True)
class _Table:
    path: Path
    columns: list[str]
    rows: list[dict]
    line_of: Callable[[int], int]  # row index (0-based) -> line number in the file (1-based)

    def require(self, columns: Iterable[str]) -> None:
        missing = [c for c in dict.fromkeys(columns) if c not in self.columns]
        if missing:
            raise ModpipeError(
                f"{self.path}: no column {', '.join(map(repr, missing))} "
                f"(it has: {', '.join(map(repr, self.columns))})"
            )

    def error(self, index: int, problem: str) -> ModpipeError:
        return ModpipeError(f"{self.path}, line {self.line_of(index)}: {problem}")


def _read_csv(path: Path) -> _Table:
    text = read_text(path)
    if not text.strip():
        raise ModpipeError(f"{path}: the file is empty")
    try:
        # na_filter=False: a text "NA" or "null" stays text; an empty cell is "" (unknown label)
        frame = pd.read_csv(io.StringIO(text), dtype=str, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise ModpipeError(f"{path}: not a readable CSV ({err})") from None
    if frame.empty:
        raise ModpipeError(f"{path}: a header but no rows")
    if not isinstance(frame.index, pd.RangeIndex):  # pandas' reading of one field too many
        raise ModpipeError(f"{path}: the first row has more fields than the header")
    return _Table(
        path,
        list(frame.columns),
        frame.to_dict(orient="records"),
        lambda index: _csv_line(text, index),
    )


def _csv_line(text: str, index: int) -> int:
    """Where data row ``index`` starts; only computed for an error message."""
    reader = csv.reader(io.StringIO(text))
    next(reader)  # the header
    end_of_previous = reader.line_num
    for row in reader:
        if row:  # pandas skips blank lines too
            if index == 0:
                return end_of_previous + 1
            index -= 1
        end_of_previous = reader.line_num
    return end_of_previous


def _read_jsonl(path: Path) -> _Table:
    rows = read_jsonl(path)
    if not rows:
        raise ModpipeError(f"{path}: the file is empty (no rows)")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return _Table(path, columns, rows, lambda index: _jsonl_line(path, index))


def _jsonl_line(path: Path, index: int) -> int:
    """The line of record ``index``, skipping blank lines as read_jsonl does."""
    lines = read_text(path).split("\n")
    return [n for n, line in enumerate(lines, start=1) if line.strip()][index]


# --- turning rows into canonical columns ------------------------------------------------------

_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}
_UNKNOWN = {"", "na", "nan", "null", "none"}


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _label(value) -> int | None:
    """1/0 for the usual spellings of yes/no, None for unknown; ValueError for anything else."""
    if _is_missing(value):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _UNKNOWN:
            return None
        if word in _TRUE | _FALSE:
            return int(word in _TRUE)
        try:
            value = float(word)  # "1.0", "0.0"
        except ValueError:
            raise ValueError(value) from None
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    raise ValueError(value)


def _labels(table: _Table, columns: dict[str, str]) -> dict[str, list[int | None]]:
    labels = {}
    for name, column in columns.items():
        values = []
        for index, row in enumerate(table.rows):
            try:
                values.append(_label(row.get(column)))
            except ValueError:
                raise table.error(
                    index,
                    f"column {column!r} holds {row[column]!r}, not a label "
                    "(use 1/0, true/false or yes/no; leave it empty for unknown)",
                ) from None
        labels[name] = values
    return labels


def _texts(table: _Table, column: str) -> list[str]:
    texts = [row.get(column) for row in table.rows]
    for index, text in enumerate(texts):
        if _is_missing(text):
            raise table.error(index, f"no text in {column!r}")
        if not isinstance(text, str):
            raise table.error(index, f"the text in {column!r} is {text!r}, not a string")
    return texts


def _ids(table: _Table, column: str | None, prefix: str) -> list[str]:
    if column is None:
        return [f"{prefix}-{number}" for number in range(1, len(table.rows) + 1)]
    ids = []
    for index, row in enumerate(table.rows):
        value = row.get(column)
        if _is_missing(value) or not str(value).strip():
            raise table.error(index, f"no id in {column!r}")
        ids.append(str(value))
    repeated = [i for i, n in Counter(ids).items() if n > 1]
    if repeated:
        shown = ", ".join(map(repr, repeated[:5]))
        more = f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
        raise ModpipeError(f"{table.path}: duplicate ids in {column!r}: {shown}{more}")
    return ids


def _frame(
    table: _Table,
    text_column: str,
    ids: list[str],
    labels: dict[str, list[int | None]],
    source: str,
    agreement: list[float] | None = None,
) -> pd.DataFrame:
    texts = _texts(table, text_column)
    records = []
    for index, (row_id, text) in enumerate(zip(ids, texts, strict=True)):
        record = {
            "id": row_id,
            "text": text,
            "labels": {name: values[index] for name, values in labels.items()},
            "source": source,
        }
        if agreement is not None:
            record["agreement"] = agreement[index]
        records.append(record)
    return frame_from_records(records)  # the same in-memory form canonical.read_dataset gives


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


def _davidson_row(row: dict) -> tuple[int, int, float]:
    """hate, offensive and agreement: the share of annotators who voted for the row's class."""
    klass = _count(row, "class")
    if klass >= len(DAVIDSON_VOTES):
        raise ValueError(f"'class' is {row['class']!r}, expected 0, 1 or 2")
    total, votes = _count(row, "count"), _count(row, DAVIDSON_VOTES[klass])
    if not 0 < votes <= total:
        raise ValueError(f"{votes} votes for class {klass} out of a count of {total}")
    return int(klass == 0), int(klass == 1), votes / total


def _import_davidson(path: Path) -> tuple[DatasetCard, pd.DataFrame]:
    table = _read_csv(path)
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
    hate, offensive, agreement = (list(column) for column in zip(*parsed, strict=True))
    ids = [f"davidson-{n}" for n in _ids(table, row_numbers, "davidson")]
    frame = _frame(
        table, "tweet", ids, {"hate": hate, "offensive": offensive}, "davidson", agreement
    )
    card = DatasetCard(
        name="davidson",
        source="davidson",
        description=(
            "Tweets labelled hate speech, offensive language or neither by crowd annotators "
            "(Davidson et al., ICWSM 2017). The two labels never co-occur; agreement is the share "
            "of annotators who chose the row's class."
        ),
        categories=DAVIDSON_CATEGORIES,
    )
    return card, frame


JIGSAW_CATEGORIES = [
    Category(
        name="toxic",
        description="Rude, disrespectful or unreasonable content that is likely to make people "
        "leave a discussion.",
        severity="medium",
    ),
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
    Category(
        name="threat",
        description="Content that states an intention to hurt, injure or kill a person or a "
        "group of people.",
        severity="high",
    ),
    Category(
        name="insult",
        description="Insulting, inflammatory or demeaning remarks about a person or a group of "
        "people.",
        severity="medium",
    ),
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
    table: _Table,
    mapping: ColumnMapping,
    categories: list[Category],
    source: str,
    labels_may_be_absent: bool = False,
    **card,
) -> tuple[DatasetCard, pd.DataFrame]:
    label_columns = [] if labels_may_be_absent else mapping.labels.values()
    table.require([mapping.text, *([mapping.id] if mapping.id else []), *label_columns])
    ids = _ids(table, mapping.id, source)
    frame = _frame(table, mapping.text, ids, _labels(table, mapping.labels), source)
    return DatasetCard(source=source, categories=categories, **card), frame


def _import_jigsaw(path: Path) -> tuple[DatasetCard, pd.DataFrame]:
    mapping = ColumnMapping(
        text="comment_text", id="id", labels={c.name: c.name for c in JIGSAW_CATEGORIES}
    )
    return _import_mapped(
        _read_csv(path),
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
        _read_jsonl(path),
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
    table = _read_csv(path) if fmt == "csv" else _read_jsonl(path)
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
    """Read a public dataset file of format ``fmt`` into a canonical card and frame.

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
    }
    return importers[fmt](path)
