"""The catalogue of public moderation datasets (``configs/catalogue.yaml``) and fetching them.

Each entry names its files (a place in a mirror laid out like ``../shared/data``, a public URL,
a sha256), its licence and citation, and the importer that turns the files into the canonical
form. Files come from their URLs (cached, so a second fetch downloads nothing), or from a mirror:
a folder or a base URL with the same layout. Every file's sha256 is checked before anything is
imported; a mismatch stops the fetch with the file named, and nothing is written.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from components.data.canonical import REPO_ROOT, DatasetCard, load_yaml_model
from components.errors import ModpipeError

DEFAULT_CATALOGUE = REPO_ROOT / "configs" / "catalogue.yaml"
MIRROR_ENV = "MODPIPE_DATA_MIRROR"
CACHE_ENV = "MODPIPE_CACHE_DIR"
CHUNK_BYTES = 1 << 20
DOWNLOAD_TIMEOUT_S = 60


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CatalogueFile(Strict):
    path: str = Field(pattern=r"^[\w.-]+(/[\w.-]+)*$")  # relative, no "..": a mirror's layout
    url: str = Field(pattern=r"^https?://")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ImporterSpec(Strict):
    format: str
    input: str  # the file, or for multi-file formats the folder, relative to the mirror root
    options: dict = {}  # a column mapping, for the generic csv / jsonl formats


class CatalogueEntry(Strict):
    title: str
    description: str
    homepage: str
    licence: str
    citation: str
    role: Literal["training", "evaluation"] = "training"
    files: list[CatalogueFile] = Field(min_length=1)
    importer: ImporterSpec


class Catalogue(Strict):
    datasets: dict[str, CatalogueEntry] = Field(min_length=1)

    def entry(self, name: str) -> CatalogueEntry:
        if name not in self.datasets:
            raise ModpipeError(
                f"no dataset {name!r} in the catalogue; it has: {', '.join(self.datasets)}"
            )
        return self.datasets[name]


def load_catalogue(path: Path = DEFAULT_CATALOGUE) -> Catalogue:
    return load_yaml_model(Path(path), Catalogue)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _check(path: Path, file: CatalogueFile, origin: str) -> None:
    actual = sha256_of(path)
    if actual != file.sha256:
        raise ModpipeError(
            f"{file.path} from {origin}: sha256 {actual} is not the catalogue's {file.sha256}; "
            "nothing imported"
        )


def _download(url: str, target: Path, file: CatalogueFile) -> None:
    """``url`` to ``target`` with a progress bar; written to ``.part`` first and moved in place
    only once its sha256 is right, so a broken download never looks like a good file."""
    partial = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            size = int(response.headers.get("Content-Length") or 0) or None
            with (
                open(partial, "wb") as out,
                tqdm(total=size, unit="B", unit_scale=True, desc=file.path, leave=False) as bar,
            ):
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    bar.update(len(chunk))
        _check(partial, file, url)
    except (urllib.error.URLError, OSError) as err:
        partial.unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or err
        raise ModpipeError(f"cannot download {file.path} from {url}: {reason}") from None
    except ModpipeError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "modpipe" / "downloads")


def gather_files(entry: CatalogueEntry, mirror: str | None = None) -> Path:
    """A folder holding ``entry``'s files at their ``path``, every sha256 checked.

    ``mirror``: a folder (read in place) or a base URL laid out like ``../shared/data``; None:
    ``$MODPIPE_DATA_MIRROR``, else the files' own URLs (downloaded into the cache once).
    """
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    if mirror and not mirror.startswith(("http://", "https://")):
        root = Path(mirror)
        if not root.is_dir():
            raise ModpipeError(f"the mirror {root} is not a folder")
        for file in entry.files:
            if not (root / file.path).is_file():
                raise ModpipeError(f"the mirror {root} has no {file.path}")
            _check(root / file.path, file, str(root))
        return root
    root = cache_dir()
    for file in entry.files:
        target = root / file.path
        if target.is_file() and sha256_of(target) == file.sha256:
            continue
        url = f"{mirror.rstrip('/')}/{file.path}" if mirror else file.url
        _download(url, target, file)
    return root


def import_entry(name: str, entry: CatalogueEntry, root: Path):
    """The canonical card and frame of ``entry`` from its files under ``root``; the card
    records the licence, citation and URLs."""
    from components.data.importers import ColumnMapping, import_dataset

    spec = entry.importer
    mapping = ColumnMapping(**spec.options) if spec.options else None
    card, frame = import_dataset(spec.format, root / spec.input, mapping)
    provenance = {
        "name": name,
        "licence": entry.licence,
        "citation": entry.citation,
        "urls": [file.url for file in entry.files],
    }
    return DatasetCard(**{**card.model_dump(), **provenance}), frame


def fetch_entry(name: str, mirror: str | None = None, catalogue: Catalogue | None = None):
    """Gather, verify and import catalogue dataset ``name``: (card, frame)."""
    entry = (catalogue or load_catalogue()).entry(name)
    return import_entry(name, entry, gather_files(entry, mirror))
