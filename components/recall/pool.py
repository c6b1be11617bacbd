"""A pool of content to scan: one item a row, ``id`` and ``text`` plus any metadata columns.

JSONL, CSV or Parquet, read by pyarrow (millions of rows in seconds, strict UTF-8). A pool is
refused whole, with the rows at fault named, when an id is missing or repeated, a text is
empty, or the bytes are not UTF-8: a queue is never built from part of a pool. It is then cut
into Parquet shards, one scanning task (on a cluster, one pod) each.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv
import pyarrow.json
import pyarrow.parquet as pq

from components.errors import ModpipeError

FORMATS = {".jsonl": "json", ".ndjson": "json", ".csv": "csv", ".parquet": "parquet"}
REQUIRED = ("id", "text")
SHARD_PATTERN = "shard-{:05d}.parquet"
SHOWN_ROWS = 5  # rows named in an error


def _read_frame(path: Path) -> pd.DataFrame:
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ModpipeError(f"{path}: a pool is .jsonl, .csv or .parquet, not {path.suffix!r}")
    if not path.is_file():
        raise ModpipeError(f"{path}: no such file")
    try:
        if kind == "parquet":
            return pq.read_table(path).to_pandas()
        if kind == "csv":
            # ids and texts as written: "007" stays "007", a text "NA" stays "NA".
            options = pyarrow.csv.ConvertOptions(
                column_types={name: pa.string() for name in REQUIRED},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            )
            return pyarrow.csv.read_csv(path, convert_options=options).to_pandas()
        table = pyarrow.json.read_json(path)
        table.validate(full=True)  # the JSON reader lets bad UTF-8 through; this does not
        return table.to_pandas()
    except pa.ArrowException as err:
        if line := _first_non_utf8_line(path):
            raise ModpipeError(f"{path}: not UTF-8 text (line {line})") from None
        problem = str(err).splitlines()[0]
        raise ModpipeError(f"{path}: cannot read it as {kind}: {problem}") from None


def _first_non_utf8_line(path: Path) -> int | None:
    with open(path, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def _items(count: int) -> str:
    return f"{count} item" + ("s" if count != 1 else "")


def _rows(mask: pd.Series) -> str:
    """The first few row numbers (1-based, as an editor shows data rows) where ``mask`` holds."""
    rows = (mask[mask].index[:SHOWN_ROWS] + 1).tolist()
    more = int(mask.sum()) - len(rows)
    return ", ".join(map(str, rows)) + (f" and {more} more" if more > 0 else "")


def check_pool(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    """``frame`` with ids and texts as strings, or a ModpipeError naming what is wrong where."""
    missing = [name for name in REQUIRED if name not in frame.columns]
    if missing:
        raise ModpipeError(f"{origin}: no {' or '.join(missing)} column (found: {list(frame)})")
    if frame.empty:
        raise ModpipeError(f"{origin}: the pool is empty")
    frame = frame.reset_index(drop=True)
    ids = frame["id"].astype("string").str.strip()
    no_id = ids.isna() | (ids == "")
    if no_id.any():
        raise ModpipeError(f"{origin}: {_items(no_id.sum())} without an id (rows {_rows(no_id)})")
    repeated = ids.duplicated(keep=False)
    if repeated.any():
        example = ids[repeated].iloc[0]
        raise ModpipeError(
            f"{origin}: ids must be unique; {_items(repeated.sum())} share an id, e.g. "
            f"{example[:64]!r} (rows {_rows(repeated)})"
        )
    texts = frame["text"]
    not_text = ~texts.map(lambda t: isinstance(t, str))
    empty = not_text | (texts.astype("string").str.strip() == "").fillna(True)
    if empty.any():
        raise ModpipeError(
            f"{origin}: {_items(empty.sum())} with an empty or missing text (rows {_rows(empty)})"
        )
    return frame.assign(id=ids.astype(str), text=texts.astype(str))


def read_pool(path: Path) -> pd.DataFrame:
    """The pool in ``path``, checked (:func:`check_pool`)."""
    path = Path(path)
    return check_pool(_read_frame(path), str(path))


def write_shards(pool: pd.DataFrame, directory: Path, shard_size: int) -> list[str]:
    """The pool as Parquet shards of ``shard_size`` items; returns their file names in order."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for number, start in enumerate(range(0, len(pool), shard_size)):
        name = SHARD_PATTERN.format(number)
        part = pool.iloc[start : start + shard_size]
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), directory / name)
        names.append(name)
    return names


def read_shard(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()
