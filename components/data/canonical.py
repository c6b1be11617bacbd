"""The canonical moderation dataset: its taxonomy, its rows, and how they sit on disk.

A dataset is a folder with two files (and the pictures its rows reference, if any):
- ``dataset.yaml``: the card (name, source, whether it is synthetic, and for a public dataset
  its licence, citation and URLs) and its own taxonomy;
- ``rows.jsonl``: one row a line: ``id``, ``text``, ``labels`` ({category: 1 | 0 | null}),
  ``source``, optional ``agreement`` (0-1), ``soft_labels`` ({category: share of annotators,
  0-1}), ``rationale``, ``context`` (the turns before the text: [{speaker, text}], oldest
  first), ``identity`` (the identity term a bias test sentence is about), ``split`` and
  ``image`` (a picture of the post: a relative POSIX path inside the folder, so DVC versions
  the file with the rows).

A null label means *unknown*: it stays missing (pandas ``<NA>``) all the way to training and
metrics, where it is masked, never read as 0. In memory, labels are columns ``label_<name>``.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import Literal

import pandas as pd
import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from components.data.rationale import check_rationale
from components.errors import ModpipeError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TAXONOMY = REPO_ROOT / "configs" / "taxonomy.yaml"
CARD_FILE = "dataset.yaml"
ROWS_FILE = "rows.jsonl"
GZIP_MAGIC = b"\x1f\x8b"
LABEL_PREFIX = "label_"
BASE_COLUMNS = ["id", "text", "source", "agreement", "rationale"]
SPLITS = ("train", "validation", "test")
# Optional row fields, in the order they are written.
OPTIONAL_FIELDS = (
    "agreement",
    "soft_labels",
    "rationale",
    "context",
    "identity",
    "split",
    "image",
)
SHARE_DECIMALS = 4  # agreement and soft labels on disk
PROVENANCE = ("licence", "citation", "urls")  # card fields written only when set

# Near-duplicate key: removed before comparing texts.
MENTION_OR_URL = re.compile(r"@\w+|(?:https?://|www\.)\S+")
NOT_ALPHANUMERIC = re.compile(r"[\W_]+")
RETWEET_MARKER = re.compile(r"^rt\b ?")
WINDOWS_PATH = re.compile(r"^[A-Za-z]:|.*\\")  # a drive or a backslash: not a POSIX path


class Category(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = Field(min_length=1)
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)


class Taxonomy(BaseModel):
    categories: list[Category] = Field(min_length=1)

    @field_validator("categories")
    @classmethod
    def _unique_names(cls, categories: list[Category]) -> list[Category]:
        names = [c.name for c in categories]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"category names repeat: {', '.join(repeated)}")
        return categories

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.categories]

    def subset(self, names: list[str]) -> Taxonomy:
        return Taxonomy(categories=[c for c in self.categories if c.name in names])


class DatasetCard(Taxonomy):
    name: str
    source: str
    synthetic: bool = False
    description: str = ""
    # Where a public dataset came from (filled from the catalogue by `modpipe data fetch`).
    licence: str | None = None
    citation: str | None = None
    urls: list[str] = []


def _problem(error: dict) -> str:
    """``key: message (got VALUE)``, the value only when it is a short scalar."""
    key = ".".join(map(str, error["loc"])) or "(top)"
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    if error["type"] != "missing" and isinstance(value, (str, int, float, type(None))):
        shown = repr(value)
        message += f" (got {shown if len(shown) <= 40 else shown[:37] + '...'})"
    return f"{key}: {message}"


def validate_model(raw, model: type[BaseModel], origin: str) -> BaseModel:
    """``model`` from plain data; every problem named by its dotted key, in one ModpipeError."""
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(map(_problem, err.errors()))
        raise ModpipeError(f"{origin}: {problems}") from None


def load_yaml_model(
    path: Path, model: type[BaseModel], loader: type[yaml.SafeLoader] = yaml.SafeLoader
) -> BaseModel:
    try:
        raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)
    except FileNotFoundError:
        raise ModpipeError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModpipeError(f"{path}: a folder, not a YAML file") from None
    except OSError as err:
        raise ModpipeError(f"{path}: cannot be read ({err.strerror})") from None
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise ModpipeError(f"{path}: not readable YAML ({_yaml_problem(err)})") from None
    return validate_model(raw, model, str(path))


def _yaml_problem(err: Exception) -> str:
    """PyYAML's reason and where, in one line (its message quotes the lines around it)."""
    mark = getattr(err, "problem_mark", None)
    if getattr(err, "problem", None) and mark:
        return f"{err.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(err).split())


def load_taxonomy(path: Path = DEFAULT_TAXONOMY) -> Taxonomy:
    return load_yaml_model(Path(path), Taxonomy)


def text_key(text: str) -> str:
    """Lowercase, drop @mentions, URLs and a leading "rt", collapse non-alphanumerics to a space:
    texts with the same key are near-duplicates (retweets, re-punctuated copies)."""
    key = NOT_ALPHANUMERIC.sub(" ", MENTION_OR_URL.sub(" ", text.lower())).strip()
    return RETWEET_MARKER.sub("", key)


def near_duplicate_key(texts: pd.Series) -> pd.Series:
    """:func:`text_key` of each text; missing texts, and texts that normalise to nothing, get
    <NA>: they are no one's near-duplicate."""
    keys = texts.map(lambda text: text_key(text) if isinstance(text, str) else "")
    return keys.astype("string").replace("", pd.NA)


def label_column(category: str) -> str:
    return LABEL_PREFIX + category


def label_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(LABEL_PREFIX)]


def read_text(path: Path) -> str:
    """A UTF-8 file's text, gunzipped if it is gzip (public datasets ship as .jsonl.gz).

    A missing file, a folder or bad bytes become a ModpipeError; bad bytes name their line.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModpipeError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModpipeError(f"{path}: is a directory, expected a file") from None
    except OSError as err:
        raise ModpipeError(f"{path}: cannot be read ({err.strerror})") from None
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise ModpipeError(f"{path}: a damaged gzip file ({err})") from None
    try:
        return data.decode("utf-8-sig")  # -sig: drop the byte-order mark spreadsheet tools add
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ModpipeError(f"{path}: line {line} is not valid UTF-8") from None


def read_jsonl(path: Path) -> list[dict]:
    """Parse a JSON-lines file; bad bytes or lines become a ModpipeError naming the line."""
    path = Path(path)
    text = read_text(path)
    records = []
    # split on \n only: splitlines() would also break at U+2028 or U+0085 inside a JSON string
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ModpipeError(f"{path}: line {number} is not valid JSON ({err.msg})") from None
        if not isinstance(record, dict):
            raise ModpipeError(f"{path}: line {number} is not a JSON object")
        records.append(record)
    return records


def _as_label(value):
    """0/1/None stay as they are (bools too); anything else is kept raw for validation to flag."""
    if value is None or isinstance(value, bool):
        return None if value is None else int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    return value


def frame_from_records(records: list[dict]) -> pd.DataFrame:
    """Flatten canonical records into a frame with one ``label_<name>`` column per category."""
    rows = []
    for record in records:
        row = {k: v for k, v in record.items() if k != "labels"}
        labels = record.get("labels") or {}
        if not isinstance(labels, dict):
            labels = {"<labels is not an object>": labels}
        row.update({label_column(k): _as_label(v) for k, v in labels.items()})
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in BASE_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    for column in label_columns(frame):
        values = frame[column].dropna()
        if values.isin([0, 1]).all():
            frame[column] = frame[column].astype("Int8")
    return frame


def records_from_frame(frame: pd.DataFrame, categories: list[str]) -> list[dict]:
    """The inverse of :func:`frame_from_records`, with a fixed key order for stable bytes."""
    records = []
    optional = [c for c in OPTIONAL_FIELDS if c in frame.columns]
    for row in frame.to_dict(orient="records"):
        record = {"id": str(row["id"]), "text": row["text"], "labels": {}}
        for name in categories:
            value = row.get(label_column(name))
            record["labels"][name] = None if pd.isna(value) else int(value)
        record["source"] = row["source"]
        for key in optional:
            if not is_missing(row[key]):
                record[key] = _rounded(key, row[key])
        records.append(record)
    return records


def is_missing(value) -> bool:
    """None, NaN or <NA>. Unlike pd.isna, a list or a dict (a row's context) is never missing."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _rounded(key: str, value):
    """Shares to SHARE_DECIMALS places, for stable bytes; other fields as they are."""
    if key == "agreement":
        return round(float(value), SHARE_DECIMALS)
    if key == "soft_labels" and isinstance(value, dict):
        return {name: round(float(share), SHARE_DECIMALS) for name, share in value.items()}
    return value


def write_dataset(
    directory: Path, card: DatasetCard, frame: pd.DataFrame, images_from: Path | None = None
) -> Path:
    """Write card and rows; the bytes depend only on the content (DVC md5s stay stable).

    ``images_from``: the dataset folder the rows were read from, whose images referenced by
    the rows are copied along (a folder without its images would not be the same dataset).
    """
    directory = Path(directory)
    check_rationales(frame, card.names, str(directory))
    directory.mkdir(parents=True, exist_ok=True)
    if images_from is not None:
        _copy_images(frame, Path(images_from), directory)
    unset = {key for key in PROVENANCE if not getattr(card, key)}  # older cards keep their bytes
    card_text = yaml.safe_dump(
        card.model_dump(exclude=unset), sort_keys=False, allow_unicode=True, width=100
    )
    (directory / CARD_FILE).write_text(card_text, encoding="utf-8")
    with open(directory / ROWS_FILE, "w", encoding="utf-8", newline="\n") as out:
        for record in records_from_frame(frame, card.names):
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    return directory


def image_path(directory: Path, row_id, image) -> Path:
    """Where a row's image lies; a ModpipeError naming the row unless ``image`` is a relative
    POSIX path to a file inside ``directory`` (no ``..``, no link out of it)."""
    where = f"{directory}: row {row_id!r}: image {image!r}"
    if not isinstance(image, str) or not image.strip():
        raise ModpipeError(f"{where} is not a path")
    relative = PurePosixPath(image)
    if relative.is_absolute() or WINDOWS_PATH.match(image):
        raise ModpipeError(f"{where} must be a relative path inside the dataset folder")
    folder = Path(directory).resolve()
    path = folder / relative
    if ".." in relative.parts or not path.resolve().is_relative_to(folder):
        raise ModpipeError(f"{where} points outside the dataset folder")
    if not path.is_file():
        raise ModpipeError(f"{where}: no such file in the dataset folder")
    return path


def check_images(directory: Path, frame: pd.DataFrame) -> None:
    """Every row's image, if it has one, is a file inside the dataset folder."""
    if "image" not in frame:
        return
    for row_id, image in zip(frame["id"], frame["image"], strict=True):
        if not is_missing(image):
            image_path(directory, row_id, image)


def _copy_images(frame: pd.DataFrame, source: Path, target: Path) -> None:
    if "image" not in frame or source.resolve() == target.resolve():
        return
    for row_id, image in zip(frame["id"], frame["image"], strict=True):
        if not is_missing(image):
            copy = target / image
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image_path(source, row_id, image), copy)


def check_rationales(frame: pd.DataFrame, categories: list[str], origin: str) -> None:
    """Every row's rationale, if it has one, fits the schema (components/data/rationale.py) and
    its text; a ModpipeError names the first row that does not."""
    if "rationale" not in frame:
        return
    for row_id, text, rationale in zip(frame["id"], frame["text"], frame["rationale"], strict=True):
        if is_missing(rationale):
            continue
        try:
            check_rationale(rationale, text if isinstance(text, str) else "", categories)
        except ValueError as err:
            raise ModpipeError(f"{origin}: row {row_id!r}: rationale: {err}") from None


def read_card(directory: Path) -> DatasetCard:
    directory = Path(directory)
    if not directory.is_dir():
        raise ModpipeError(f"{directory}: no such dataset folder")
    if not (directory / CARD_FILE).is_file():
        raise ModpipeError(
            f"{directory}: no {CARD_FILE} here, so not a canonical dataset "
            "(make one with 'modpipe data import' or 'modpipe data synth')"
        )
    return load_yaml_model(directory / CARD_FILE, DatasetCard)


def read_dataset(directory: Path) -> tuple[DatasetCard, pd.DataFrame]:
    """Load a canonical dataset; raises ModpipeError for a missing, empty or unreadable one.

    Content problems (empty texts, odd labels, duplicates) are left for validation to report.
    """
    card = read_card(directory)
    records = read_jsonl(Path(directory) / ROWS_FILE)
    if not records:
        raise ModpipeError(f"{directory}: the dataset has no rows")
    frame = frame_from_records(records)
    check_rationales(frame, card.names, str(Path(directory) / ROWS_FILE))
    for name in card.names:
        if label_column(name) not in frame.columns:
            frame[label_column(name)] = pd.array([pd.NA] * len(frame), dtype="Int8")
    return card, frame
