"""Base encoders: the bundled MiniLM, local folders, and hub ids downloaded from a Hub mirror on
127.0.0.1 (tests/hub_mirror.py) into a Hugging Face cache of the test's own."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from servers import free_port, running
from transformers import AutoTokenizer, BertConfig, BertModel

from components.config import DEFAULT_BASE_MODEL
from components.data.canonical import REPO_ROOT
from components.errors import ModpipeError
from components.model.base_model import minilm_path, resolve_base_model

# Each reference resolved in a fresh process, as huggingface_hub reads HF_* once, on import.
RESOLVE = """
import json, sys
from components.data.canonical import Category, Taxonomy
from components.errors import ModpipeError
from components.model.base_model import resolve_base_model
from components.model.modeling import build_classifier

SPAM = Taxonomy(categories=[Category(name="spam", description="Unwanted advertising.")])
answers = {}
for reference in sys.argv[1:]:
    try:
        folder = resolve_base_model(reference)
        network, _ = build_classifier(reference, SPAM, 0)
        answers[reference] = {"folder": folder, "hidden": network.config.hidden_size}
    except ModpipeError as err:
        answers[reference] = {"error": str(err)}
print(json.dumps(answers))
"""
TINY_HIDDEN = 32


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """The mirror's URL; it serves acme/tiny-encoder (a 32-wide BERT with MiniLM's tokenizer)
    and acme/pickled (weights only as a pickle)."""
    root = tmp_path_factory.mktemp("hub")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=TINY_HIDDEN,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(root / "acme" / "tiny-encoder")
    tokenizer.save_pretrained(root / "acme" / "tiny-encoder")
    config.save_pretrained(root / "acme" / "pickled")
    (root / "acme" / "pickled" / "pytorch_model.bin").write_bytes(b"not loaded")
    port = free_port()
    command = [sys.executable, str(REPO_ROOT / "tests" / "hub_mirror.py"), str(port), str(root)]
    with running(command, f"http://127.0.0.1:{port}/", root / "mirror.log", None, timeout=30):
        yield f"http://127.0.0.1:{port}"


def resolve(references: list[str], cache: Path, endpoint: str | None) -> dict:
    env = {**os.environ, "HF_HOME": str(cache), "HF_HUB_OFFLINE": "0" if endpoint else "1"}
    env.pop("HF_ENDPOINT", None)
    if endpoint:
        env["HF_ENDPOINT"] = endpoint
    done = subprocess.run(
        [sys.executable, "-c", RESOLVE, *references],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_hub_id_is_downloaded_once_then_resolves_from_the_cache(hub, tmp_path):
    online = resolve(["acme/tiny-encoder", "acme/tiny-encoder@main"], tmp_path, hub)
    folder = Path(online["acme/tiny-encoder"]["folder"])
    assert folder.is_relative_to(tmp_path)  # the test's own cache, not the user's
    files = {path.name for path in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= files
    assert online["acme/tiny-encoder"]["hidden"] == TINY_HIDDEN
    assert online["acme/tiny-encoder@main"]["folder"] == str(folder)

    offline = resolve(["acme/tiny-encoder", "acme/never-fetched"], tmp_path, None)
    assert offline["acme/tiny-encoder"] == online["acme/tiny-encoder"]
    assert (
        "not in the Hugging Face cache, and HF_HUB_OFFLINE=1 forbids downloading it"
        in (offline["acme/never-fetched"]["error"])
    )


def test_hub_ids_that_cannot_be_used_fail_clearly(hub, tmp_path):
    references = ["acme/missing", "acme/tiny-encoder@v9", "acme/pickled"]
    answers = resolve(references, tmp_path, hub)
    unreachable = resolve(["acme/tiny-encoder"], tmp_path, f"http://127.0.0.1:{free_port()}")
    assert answers["acme/missing"]["error"] == (
        f"base model 'acme/missing': no such repo on {hub} (a private one needs HF_TOKEN)"
    )
    assert "the repo has no revision 'v9'" in answers["acme/tiny-encoder@v9"]["error"]
    assert "no safetensors weights" in answers["acme/pickled"]["error"]
    assert "could not be reached" in unreachable["acme/tiny-encoder"]["error"]
    assert "Traceback" not in json.dumps([answers, unreachable])


def test_base_models_resolve_offline_or_fail_clearly(tmp_path):
    assert (Path(resolve_base_model(DEFAULT_BASE_MODEL)) / "config.json").is_file()
    with pytest.raises(ModpipeError, match="no such model folder"):
        resolve_base_model(str(tmp_path / "missing"))
    with pytest.raises(ModpipeError, match="no config.json"):
        resolve_base_model(str(tmp_path))
