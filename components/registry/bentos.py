"""Package a trained moderation model for serving: a BentoML model, then a bento around it.

The BentoML model holds the saved :class:`~components.model.modeling.ModerationModel` folder under
:data:`MODEL_SUBDIR`, with its versions, metrics and thresholds as labels and metadata. The bento
is built from ``serving/bentofile.yaml`` with the model tag as a bento argument, so the service
it carries always loads that exact model version. Building needs no network.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import yaml

# BentoML posts usage statistics unless told not to; this project runs offline.
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

import bentoml  # noqa: E402  (after the tracking switch above)
from bentoml._internal.configuration.containers import BentoMLContainer  # noqa: E402

from components.data.canonical import REPO_ROOT  # noqa: E402
from components.errors import ModpipeError  # noqa: E402
from components.model.modeling import ModerationModel  # noqa: E402
from components.serving_config import ServingConfig  # noqa: E402
from components.storage import absolute, is_remote, join  # noqa: E402
from serving.settings import (  # noqa: E402
    BENTO_MODEL_NAME,
    MODEL_SUBDIR,
    MODEL_TAG_ARGUMENT,
    MODEL_TAG_ENV,
    SERVING_ARGUMENT,
)

SERVING_DIR = REPO_ROOT / "serving"
BENTOFILE = "bentofile.yaml"
LABEL_KEYS = ("model_version", "dataset_version")
ALREADY_STORED = re.compile(r"Item '([^']+)' already exists")


def save_bento_model(model_dir: Path, metadata: dict) -> str:
    """Store a saved ModerationModel folder as a BentoML model; returns its tag.

    ``metadata`` is kept whole (expected keys: ``model_version``, ``dataset_version`` (the
    dataset's DVC md5) and ``metrics``, a summary of floats); the two versions also become
    labels so ``bentoml models list`` can filter on them. The model's categories and decision
    thresholds are added from the folder itself, which must load (so a broken folder never
    becomes a bento).
    """
    model_dir = Path(model_dir)
    model = ModerationModel.load(model_dir, device="cpu")
    labels = {key: str(metadata[key]) for key in LABEL_KEYS if metadata.get(key) is not None}
    full_metadata = {
        **metadata,
        "categories": model.categories,
        "thresholds": model.thresholds,
        "base_model": model.base_model,
    }
    try:
        with bentoml.models.create(
            BENTO_MODEL_NAME, labels=labels, metadata=full_metadata
        ) as bento_model:
            shutil.copytree(model_dir, bento_model.path_of(MODEL_SUBDIR))
    except (ValueError, TypeError) as err:  # BentoML rejects non-JSON-like metadata values
        raise ModpipeError(f"cannot store model metadata: {err}") from None
    return str(bento_model.tag)


def build_bento(
    model_tag: str, serving: ServingConfig | None = None, service_dir: Path = SERVING_DIR
) -> str:
    """``bentoml build`` the service in ``service_dir`` around ``model_tag``; returns the bento tag.

    The model tag and the serving settings become bento arguments, recorded in the bento, and
    torch and transformers are pinned to the versions this pipeline ran with. The build context
    is the folder holding ``service_dir`` (the repository root), so the bento also carries
    ``components/``. It runs in a subprocess, as BentoML would keep the imported
    service module (and the model tag it read) for the life of this process, and it uses the
    same BentoML store as this process.
    """
    try:  # pin the exact version: "name:latest" must not drift to a later model
        model_tag = str(bentoml.models.get(model_tag).tag)
    except (bentoml.exceptions.NotFound, ValueError) as err:
        raise ModpipeError(f"no BentoML model {model_tag!r}: {err}") from None
    service_dir = Path(service_dir).resolve()
    spec = bentofile_spec(service_dir, model_tag, serving or ServingConfig())
    # BentoML fixes its home on first use; a later change of BENTOML_HOME must not split stores.
    env = {**os.environ, "BENTOML_HOME": BentoMLContainer.bentoml_home.get()}
    env.pop(MODEL_TAG_ENV, None)  # the bento must be built around model_tag, nothing else
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as bentofile:
        yaml.safe_dump(spec, bentofile)
        bentofile.flush()
        command = [
            sys.executable,
            "-m",
            "bentoml",
            "build",
            str(service_dir.parent),
            "--bentofile",
            bentofile.name,
            "--output",
            "tag",
        ]
        result = subprocess.run(command, capture_output=True, text=True, env=env)
    found = re.search(r"__tag__:(\S+)", result.stdout)
    if result.returncode != 0 or not found:
        problem = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise ModpipeError(f"bentoml build failed: {' '.join(problem) or 'no output'}")
    return found.group(1)


def pinned(requirement: str) -> str:
    """A bare ``torch`` or ``transformers`` pinned to this environment's version (torch as its
    CPU build, from the CPU index the bentofile names: never the CUDA one)."""
    if requirement == "torch":
        return f"torch=={version('torch').split('+')[0]}+cpu"
    if requirement == "transformers":
        return f"transformers=={version('transformers')}"
    return requirement


def bentofile_spec(service_dir: Path, model_tag: str, serving: ServingConfig) -> dict:
    """``service_dir``'s bentofile with the versions pinned and the bento's arguments: the model
    tag and the serving settings (a bentofile keeps their types, unlike ``--arg key=value``)."""
    bentofile = service_dir / BENTOFILE
    if not bentofile.is_file():
        raise ModpipeError(f"{service_dir}: no {BENTOFILE} here")
    spec = yaml.safe_load(bentofile.read_text(encoding="utf-8"))
    spec["python"]["packages"] = [pinned(p) for p in spec["python"]["packages"]]
    spec["args"] = {MODEL_TAG_ARGUMENT: model_tag, SERVING_ARGUMENT: serving.model_dump()}
    return spec


def package_model(model_dir: Path, metadata: dict, serving: ServingConfig | None = None) -> str:
    """Store the model and build its bento; returns the bento tag."""
    return build_bento(save_bento_model(model_dir, metadata), serving)


def packaged_model_dir(tag: str) -> Path:
    """The ModerationModel folder inside a bento (``moderation-service:...``) or a BentoML model."""
    try:
        bento = bentoml.bentos.get(tag)
        model_tag = str(bento.info.all_models[0].tag)  # 1.4 services list their own models
    except bentoml.exceptions.NotFound:
        model_tag = tag
    except IndexError:
        raise ModpipeError(f"bento {tag} carries no model") from None
    try:
        return Path(bentoml.models.get(model_tag).path_of(MODEL_SUBDIR))
    except bentoml.exceptions.NotFound:
        raise ModpipeError(f"{tag}: no such bento or BentoML model in {bentoml_home()}") from None


def resolve_bento(tag: str) -> str:
    """The full tag of a bento in the local store."""
    try:
        return str(bentoml.bentos.get(tag).tag)
    except (bentoml.exceptions.BentoMLException, ValueError):  # not found, or not a tag
        raise ModpipeError(
            f"no bento {tag!r} in {bentoml_home()}; list them with 'bentoml list'"
        ) from None


def export_bento(tag: str, store: str) -> str:
    """``bentoml export`` the bento to ``store`` (a folder or, through fsspec, object storage
    such as ``s3://bucket/prefix``); returns the URI of the archive."""
    bento = bentoml.bentos.get(tag)
    uri = join(absolute(store), f"{bento.tag.name}-{bento.tag.version}.bento")
    if not is_remote(uri):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        bentoml.bentos.export_bento(bento.tag, uri)
    except Exception as err:  # fsspec and botocore errors: one line naming the store
        raise ModpipeError(f"cannot export {bento.tag} to {uri}: {err}") from None
    return uri


def import_bento(uri: str) -> str:
    """The bento exported at ``uri``, imported into the local store unless it is there already;
    returns its tag."""
    try:
        return str(bentoml.bentos.import_bento(uri).tag)
    except bentoml.exceptions.BentoMLException as err:
        if found := ALREADY_STORED.search(str(err)):
            return found.group(1)
        raise ModpipeError(f"cannot import the bento at {uri}: {err}") from None
    except Exception as err:  # a missing file, an unreachable store, missing credentials
        raise ModpipeError(f"cannot import the bento at {uri}: {err}") from None


def serve_command(bento: str, port: int) -> list[str]:
    """``bentoml serve`` of a bento on 127.0.0.1, in this Python environment."""
    loopback = ["--host", "127.0.0.1", "--port", str(port)]
    return [sys.executable, "-m", "bentoml", "serve", bento, *loopback]


def bentoml_home() -> str:
    return BentoMLContainer.bentoml_home.get()
