"""`modpipe recall` in one process with a tiny model: a pool into a queue that says why each
item is there, and bad input refused whole (exit 2, one line, no queue left behind)."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from mlflow import MlflowClient

from components.model.modeling import ModerationModel
from components.model.neighbours import (
    INDEX_DIR,
    Entry,
    ViolationIndex,
    calibrate_cutoffs,
    index_known_violations,
)
from workflows.cli import main

pytestmark = pytest.mark.slow

KNOWN = {"known-1": "you are a pathetic little worm", "known-2": "i know where you sleep"}
CAMPAIGN = "Claim your prize today at cheap-deals dot example"


def modpipe(monkeypatch, capsys, *args) -> tuple[int, str]:
    """``modpipe ARGS`` through the CLI's own entry point: its exit code and all it printed."""
    monkeypatch.setattr(sys, "argv", ["modpipe", *map(str, args)])
    with pytest.raises(SystemExit) as exit_:
        main()
    printed = capsys.readouterr()
    return exit_.value.code or 0, printed.out + printed.err


@pytest.fixture(scope="module")
def recall_model(model_dir, tmp_path_factory):
    """The tiny model made blind (every score about 0.02), so only the other channels can
    recall, with an index of two known violations."""
    folder = tmp_path_factory.mktemp("recall") / "model"
    model = ModerationModel.load(model_dir)
    with torch.no_grad():
        model.model.classifier.weight.zero_()
        model.model.classifier.bias.fill_(-4.0)
    model.save(folder)
    known = pd.DataFrame(
        {
            "id": list(KNOWN),
            "text": list(KNOWN.values()),
            "label_insult": [1, 0],
            "label_threat": [0, 1],
            "label_scam": [0, 0],
        }
    )
    index_known_violations(model, known, folder / INDEX_DIR, max_items=100)
    return folder


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """Ordinary texts, a campaign of near copies with a listed term, and a re-upload of a known
    violation."""
    words = "the a meeting lunch room report garden train music coffee blue quiet river".split()
    rng = np.random.default_rng(0)
    ordinary = [" ".join(rng.choice(words, size=6)) for _ in range(40)]
    rows = [{"id": f"o{i}", "text": text, "channel": "feed"} for i, text in enumerate(ordinary)]
    copies = [CAMPAIGN, CAMPAIGN.upper(), CAMPAIGN + "!!", CAMPAIGN.lower() + " ..."]
    rows += [{"id": f"c{i}", "text": copies[i % 4], "channel": "dm"} for i in range(12)]
    rows.append({"id": "reupload", "text": KNOWN["known-1"], "channel": "feed"})
    path = tmp_path_factory.mktemp("pool") / "pool.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    """The tiny preset; a random encoder finds every text alike, so only near copies match."""
    config = yaml.safe_load(Path("configs/tiny.yaml").read_text())
    config["recall"] = {"match_similarity": 0.97}
    path = tmp_path_factory.mktemp("preset") / "recall.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One MLflow store for the module: a new SQLite store costs seconds of migrations."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        yield uri


@pytest.fixture
def terms(tmp_path):
    path = tmp_path / "terms.yaml"
    path.write_text("scam:\n  - claim your prize\n  - 're:\\bcheap-?deals\\b'\n")
    return path


def test_a_pool_becomes_a_queue_of_campaigns_each_saying_why(
    monkeypatch, capsys, recall_model, pool, preset, store, terms, tmp_path
):
    folder = recall_model
    output = tmp_path / "queue"
    code, printed = modpipe(
        monkeypatch, capsys, "recall", pool, "--budget", 3, "--model", folder,
        "--terms", terms, "-o", output, "-c", preset,
    )  # fmt: skip
    assert code == 0, printed
    queue = pd.read_json(output / "queue.jsonl", lines=True, dtype={"id": str})
    assert queue["rank"].tolist() == [1, 2, 3]
    assert queue["risk"].is_monotonic_decreasing
    reupload = queue.set_index("id").loc["reupload"]
    assert "similarity" in reupload["channels"] and reupload["nearest_id"] == "known-1"
    assert reupload["nearest_similarity"] == pytest.approx(1.0, abs=1e-4)
    assert reupload["nearest_excerpt"] == KNOWN["known-1"] and reupload["category"] == "insult"
    campaign = queue[queue["id"].str.startswith("c")]
    assert len(campaign) == 1, "a campaign's copies fold into one item"
    assert campaign["cluster_size"].item() == 12 and "terms" in campaign["channels"].item()
    assert campaign["term"].item().lower() == "claim your prize"
    assert set(queue["channel"]) <= {"feed", "dm"}  # the pool's metadata travels with it
    assert "Review queue: 3 of 53 items" in (output / "report.html").read_text()
    run = MlflowClient(store).get_run(printed.split("MLflow run: ")[1].split()[0])
    assert run.data.metrics["queue.items"] == 3 and run.data.metrics["pool.items"] == 53
    assert run.data.metrics["queue.items_covered"] == queue["cluster_size"].sum()


def write(path, content: bytes):
    path.write_bytes(content)
    return path


def other_encoders_index(folder):
    vectors = np.eye(64, dtype=np.float32)[:2]
    entries = [Entry("x", ("insult",), "x"), Entry("y", ("threat",), "y")]
    ViolationIndex.build(folder, vectors, entries, ["insult", "threat", "scam"], "minilm@0000")
    return folder


BAD_INPUT = {
    "missing ids": (
        lambda d: write(d / "p.csv", b"id,text\n1,a\n,b\n"),
        [],
        "1 item without an id",
    ),
    "repeated ids": (lambda d: write(d / "p.csv", b"id,text\n1,a\n1,b\n"), [], "share an id"),
    "empty text": (lambda d: write(d / "p.csv", b'id,text\n1,a\n2,""\n'), [], "empty or missing"),
    "not UTF-8": (lambda d: write(d / "p.csv", b"id,text\n1,caf\xe9\n2,b\n"), [], "not UTF-8"),
    "budget of 0": (lambda d: write(d / "p.csv", b"id,text\n1,a\n"), ["--budget", "0"], "budget"),
    "budget over the pool": (
        lambda d: write(d / "p.csv", b"id,text\n1,a\n2,b\n"),
        ["--budget", "3"],
        "a budget of 3 is more than the pool's 2 items",
    ),
    "another encoder's index": (
        lambda d: write(d / "p.csv", b"id,text\n1,a\n2,b\n"),
        ["--index", "{index}"],
        "the index was built with encoder 'minilm@0000', the model's is 'tiny-random-bert@",
    ),
    "an invalid term pattern": (
        lambda d: write(d / "p.csv", b"id,text\n1,a\n2,b\n"),
        ["--terms", "{terms}"],
        "scam: invalid pattern 're:(unclosed'",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_one_clear_error_and_leaves_no_queue(
    monkeypatch, capsys, recall_model, store, tmp_path, case
):
    make_pool, options, problem = BAD_INPUT[case]
    index = other_encoders_index(tmp_path / "index")
    bad_terms = write(tmp_path / "bad.yaml", b"scam:\n  - 're:(unclosed'\n")
    options = [o.format(index=index, terms=bad_terms) for o in options]
    if "--budget" not in options:
        options += ["--budget", "1"]
    if "--terms" not in options:
        options.append("--no-terms")
    output = tmp_path / "queue"
    code, printed = modpipe(
        monkeypatch, capsys, "recall", make_pool(tmp_path), "--model", recall_model,
        *options, "-o", output, "-c", "configs/tiny.yaml",
    )  # fmt: skip
    assert code == 2, printed
    assert problem in printed and "Traceback" not in printed
    assert not output.exists() and not list(tmp_path.glob(".queue*"))


def test_match_cut_offs_let_few_held_out_negatives_through(recall_model):
    model = ModerationModel.load(recall_model)
    index = ViolationIndex.load(recall_model / INDEX_DIR, model.encoder_id)
    words = "a the blue quiet river lunch garden report music coffee".split()
    rng = np.random.default_rng(1)
    ordinary = [" ".join(rng.choice(words, size=5)) for _ in range(80)]
    negatives = pd.DataFrame(
        {"id": range(80), "text": ordinary, "label_insult": 0, "label_threat": 0}
    ).assign(label_scam=pd.NA)  # unknown for scam: too few negatives, no cut-off
    cutoffs = calibrate_cutoffs(index, model, negatives)
    assert set(cutoffs) == {"insult", "threat"} and all(0.5 <= c <= 0.999 for c in cutoffs.values())
    _, vectors = model.predict_with_embeddings(ordinary)
    nearest = index.nearest_by_category(vectors)
    assert (nearest.similarity[:, 0] >= cutoffs["insult"]).mean() <= 0.0125  # 1 of 80
    saved = ViolationIndex.load(recall_model / INDEX_DIR, model.encoder_id)
    assert saved.manifest.cutoffs == cutoffs
