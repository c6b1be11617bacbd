"""`modpipe mine` end to end with the session's tiny model: a round of mining writes a batch
and a pending state, the labelled batch comes back as rewards, and bad input is one line."""

import json

import mlflow
import pandas as pd
import pytest
from conftest import modpipe
from tiny_bento import TAXONOMY

from components.data.canonical import DatasetCard, write_dataset

WORDS = ["hello friend", "you idiot", "i will hurt you", "send money now", "nice game"]


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    """A dataset of 40 rows, the first 20 labelled, and a pool of 30 unlabelled rows."""
    folder = tmp_path_factory.mktemp("mine")
    texts = [f"{WORDS[i % len(WORDS)]} {i}" for i in range(40)]
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(40)], "text": texts, "source": "test"})
    for column, category in enumerate(TAXONOMY.names):
        labels = [int((i + column) % 3 == 0) if i < 20 else None for i in range(40)]
        frame[f"label_{category}"] = pd.array(labels, dtype="Int8")
    card = DatasetCard(name="mine", source="test", categories=TAXONOMY.categories)
    dataset = write_dataset(folder / "dataset", card, frame)
    pool = folder / "pool.jsonl"
    frame[["id", "text"]].iloc[10:].to_json(pool, orient="records", lines=True)
    return dataset, pool


def test_a_round_writes_a_batch_and_its_labels_reward_the_strategies(
    items, model_dir, tmp_path, capsys, monkeypatch
):
    dataset, _ = items
    state, batch = tmp_path / "state.json", tmp_path / "batch.csv"
    common = ("--state", state)
    mining = ["--model", model_dir, "--data", dataset, "--batch", 12, "--output", batch]
    code, output = modpipe(capsys, monkeypatch, "mine", *mining, *common, "--seed", 3)
    assert code == 0, output
    assert "round 1: 12 items" in output
    picked = pd.read_csv(batch, dtype={"id": str})
    assert len(picked) == picked["id"].nunique() == 12
    saved = json.loads(state.read_text())
    assert set(picked["strategy"]) <= set(saved["strategies"])
    assert "label_errors" in saved["strategies"] and "near_misses" in saved["strategies"]
    reviewed = picked["id"].str[1:].astype(int) < 20
    assert (picked.loc[reviewed, "strategy"] == "label_errors").all()
    assert {"reason", "top_category", "top_score", "label_insult"} <= set(picked.columns)

    columns = [f"label_{category}" for category in TAXONOMY.names]
    unjudged = tmp_path / "unjudged.csv"
    picked.drop(columns=columns).assign(**dict.fromkeys(columns, "")).to_csv(unjudged)
    code, output = modpipe(capsys, monkeypatch, "mine", "--reward", unjudged, *common)
    assert code == 2 and "none of round 1's items has a label" in output

    picked.assign(**dict.fromkeys(columns, 1)).to_csv(batch, index=False)
    code, output = modpipe(capsys, monkeypatch, "mine", "--reward", batch, *common)
    assert code == 0, output
    assert "round 1: rewards" in output
    rewarded = json.loads(state.read_text())
    assert rewarded["rounds"][0]["rewards"]
    assert rewarded["log_weights"] != saved["log_weights"]


def test_a_pool_gives_a_jsonl_batch_of_the_annotation_strategies(
    items, model_dir, tmp_path, capsys, monkeypatch
):
    _, pool = items
    batch = tmp_path / "batch.jsonl"
    mining = ["--model", model_dir, "--pool", pool, "--batch", 5, "--output", batch]
    chosen = ["--strategies", "uncertainty,diversity", "--state", tmp_path / "state.json"]
    paid = ["--reward-on", "violations_and_errors"]
    code, output = modpipe(capsys, monkeypatch, "mine", *mining, *chosen, *paid)
    assert code == 0, output
    rows = [json.loads(line) for line in batch.read_text().splitlines()]
    assert len(rows) == 5 and {row["strategy"] for row in rows} <= {"uncertainty", "diversity"}
    assert json.loads((tmp_path / "state.json").read_text())["reward"] == "violations_and_errors"


BAD = {
    "batch of zero": (["--batch", 0], "--batch must be at least 1"),
    "batch above the candidates": (["--batch", 31], "more than the 30 items"),
    "unknown strategy": (["--batch", 2, "--strategies", "luck"], "unknown luck"),
    "label_errors without labels": (
        ["--batch", 2, "--strategies", "label_errors"],
        "label_errors needs labelled items",
    ),
    "batch format": (["--batch", 2, "--output", "batch.txt"], ".csv or .jsonl"),
}


@pytest.mark.parametrize("extra, message", BAD.values(), ids=BAD.keys())
def test_bad_input_exits_2_with_one_clear_line(
    items, model_dir, tmp_path, capsys, monkeypatch, extra, message
):
    _, pool = items
    args = ["--model", model_dir, "--pool", pool, "--state", tmp_path / "state.json"]
    if "--output" not in extra:
        args += ["--output", tmp_path / "batch.csv"]
    code, output = modpipe(capsys, monkeypatch, "mine", *args, *extra)
    assert code == 2
    assert message in output and "Traceback" not in output
    assert [line for line in output.splitlines() if line.startswith("error:")] == [
        output.strip().splitlines()[-1]
    ]
    assert not (tmp_path / "state.json").exists()


def test_rewarding_without_a_pending_round_is_a_clear_error(tmp_path, capsys, monkeypatch):
    code, output = modpipe(
        capsys, monkeypatch, "mine", "--reward", tmp_path / "b.csv", "--state", tmp_path / "s.json"
    )
    assert code == 2 and "no such state file" in output


def test_the_recall_pipelines_mining_step_keeps_its_state_between_rounds(
    items, model_dir, tmp_path, monkeypatch
):
    from components.config import PipelineConfig, RecallConfig
    from components.errors import ModpipeError
    from components.recall.pool import read_pool, write_shards
    from components.registry.tracking import setup_tracking
    from components.stages.mine import BATCH_FILE, mine_stage

    _, pool = items
    write_shards(read_pool(pool), tmp_path / "shards", shard_size=16)
    state = tmp_path / "volume" / "state.json"
    config = PipelineConfig(recall=RecallConfig(mine_batch=6, mine_state=state))
    assert config.recall.mine_reward_on == "errors"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # restored afterwards
    setup_tracking(uri)
    with mlflow.start_run() as run:  # as the pipeline's stage runs it
        assert mine_stage(config, model_dir, tmp_path / "shards", tmp_path / "batch") == 6
    logged = mlflow.MlflowClient().list_artifacts(run.info.run_id)
    assert [entry.path for entry in logged] == ["state.json"]
    picked = pd.read_json(tmp_path / "batch" / BATCH_FILE, lines=True, dtype={"id": str})
    saved = json.loads(state.read_text())
    rounds = saved["rounds"]
    assert len(set(picked["id"])) == 6 and rounds[-1]["rewards"] is None  # pending
    assert saved["reward"] == "errors"
    with mlflow.start_run(), pytest.raises(ModpipeError, match="still waiting for its labels"):
        mine_stage(config, model_dir, tmp_path / "shards", tmp_path / "again")
