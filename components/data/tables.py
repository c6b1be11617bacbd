"""Reading source files into rows, and rows into canonical columns, for the importers.

Every problem in a source file becomes a one-line ModpipeError that names the file and, where
there is one, the line.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from components.data.canonical import frame_from_records, is_missing, read_jsonl, read_text
from components.errors import ModpipeError

# --- reading a source file into rows, remembering how to point at a row's line ---------------


@dataclass(frozen=True, eq=False)
class Table:
    path: Path
    columns: list[str]
    rows: list[dict]
    line_of: Callable[[int], int]  # row index (0-based) -> line number in the file (1-based)
    frame: pd.DataFrame | None = None  # CSV: the same cells, as strings, for vectorised readers

    def require(self, columns: Iterable[str]) -> None:
        missing = [c for c in dict.fromkeys(columns) if c not in self.columns]
        if missing:
            raise ModpipeError(
                f"{self.path}: no column {', '.join(map(repr, missing))} "
                f"(it has: {', '.join(map(repr, self.columns))})"
            )

    def error(self, index: int, problem: str) -> ModpipeError:
        return ModpipeError(f"{self.path}, line {self.line_of(index)}: {problem}")

    def raise_first(self, bad: pd.Series, problem: Callable[[int], str]) -> None:
        """Raise for the first row where ``bad`` (aligned with the rows) is true."""
        positions = bad.to_numpy().nonzero()[0]
        if len(positions):
            index = int(positions[0])
            raise self.error(index, problem(index))


def read_csv_table(path: Path) -> Table:
    text = read_text(path)
    if not text.strip():
        raise ModpipeError(f"{path}: the file is empty")
    try:
        # na_filter=False: a text "NA" or "null" stays text; an empty cell is "" (unknown label).
        # dtype=object: plain Python strings, which pandas compares and iterates far faster.
        frame = pd.read_csv(io.StringIO(text), dtype=object, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise ModpipeError(f"{path}: not a readable CSV ({err})") from None
    if frame.empty:
        raise ModpipeError(f"{path}: a header but no rows")
    if not isinstance(frame.index, pd.RangeIndex):  # pandas' reading of one field too many
        raise ModpipeError(f"{path}: the first row has more fields than the header")
    return Table(
        path,
        list(frame.columns),
        frame.to_dict(orient="records"),
        lambda index: _csv_line(text, index),
        frame,
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


def read_jsonl_table(path: Path) -> Table:
    rows = read_jsonl(path)
    if not rows:
        raise ModpipeError(f"{path}: the file is empty (no rows)")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return Table(path, columns, rows, lambda index: _jsonl_line(path, index))


def _jsonl_line(path: Path, index: int) -> int:
    """The line of record ``index``, skipping blank lines as read_jsonl does."""
    lines = read_text(path).split("\n")
    return [n for n, line in enumerate(lines, start=1) if line.strip()][index]


def coded(table: Table, column: str, codes: dict[str, object]) -> pd.Series:
    """A CSV column's cells read through ``codes`` (cell -> value); any other cell raises."""
    cells = table.frame[column]
    table.raise_first(
        ~cells.isin(list(codes)),
        lambda index: (
            f"column {column!r} holds {cells.iloc[index]!r}, "
            f"expected {' or '.join(map(repr, codes))}"
        ),
    )
    return cells.map(codes)


# --- turning rows into canonical columns ------------------------------------------------------

_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}
_UNKNOWN = {"", "na", "nan", "null", "none"}


def parse_label(value) -> int | None:
    """1/0 for the usual spellings of yes/no, None for unknown; ValueError for anything else."""
    if is_missing(value):
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


def label_lists(table: Table, columns: dict[str, str]) -> dict[str, list[int | None]]:
    """Category -> its label on every row, read from the category's column."""
    labels = {}
    for name, column in columns.items():
        values = []
        for index, row in enumerate(table.rows):
            try:
                values.append(parse_label(row.get(column)))
            except ValueError:
                raise table.error(
                    index,
                    f"column {column!r} holds {row[column]!r}, not a label "
                    "(use 1/0, true/false or yes/no; leave it empty for unknown)",
                ) from None
        labels[name] = values
    return labels


def texts_of(table: Table, column: str) -> list[str]:
    """The column's cells; each must be a string."""
    texts = [row.get(column) for row in table.rows]
    for index, text in enumerate(texts):
        if is_missing(text):
            raise table.error(index, f"no text in {column!r}")
        if not isinstance(text, str):
            raise table.error(index, f"the text in {column!r} is {text!r}, not a string")
    return texts


def row_ids(table: Table, column: str | None, prefix: str) -> list[str]:
    """Ids from ``column`` (present and unique), or ``prefix-N`` from the row numbers."""
    if column is None:
        return [f"{prefix}-{number}" for number in range(1, len(table.rows) + 1)]
    ids = []
    for index, row in enumerate(table.rows):
        value = row.get(column)
        if is_missing(value) or not str(value).strip():
            raise table.error(index, f"no id in {column!r}")
        ids.append(str(value))
    repeated = [i for i, n in Counter(ids).items() if n > 1]
    if repeated:
        shown = ", ".join(map(repr, repeated[:5]))
        more = f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
        raise ModpipeError(f"{table.path}: duplicate ids in {column!r}: {shown}{more}")
    return ids


def canonical_frame(
    ids: Sequence[str],
    texts: Sequence[str],
    labels: dict[str, Sequence[int | None]],
    source: str,
    **optional: Sequence,
) -> pd.DataFrame:
    """The rows in the in-memory form canonical.read_dataset gives.

    ``optional`` holds whole columns of optional row fields (agreement, soft_labels, rationale,
    context, identity); a row whose value is None goes without that field, as on disk.
    """
    records = []
    for index, (row_id, text) in enumerate(zip(ids, texts, strict=True)):
        record = {
            "id": row_id,
            "text": text,
            "labels": {name: values[index] for name, values in labels.items()},
            "source": source,
        }
        for field, values in optional.items():
            if values[index] is not None:
                record[field] = values[index]
        records.append(record)
    return frame_from_records(records)
