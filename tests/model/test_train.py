"""Fine-tuning behaviour on a tiny random BERT and synthetic, trivially separable rows."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml

from components.config import DEFAULT_BASE_MODEL
from components.data.canonical import REPO_ROOT, Category, Taxonomy, records_from_frame
from components.errors import ModpipeError
from components.model.checkpoints import BEST_WEIGHTS_FILE, CHECKPOINT_FILE
from components.model.modeling import (
    MODEL_CARD,
    TINY_BASE_MODEL,
    ModerationModel,
    build_classifier,
    read_model_card,
)
from components.model.train_command import main
from components.model.training import (
    STOP_AFTER_STEPS_ENV,
    WEIGHTS_DIGEST_DIR_ENV,
    TrainConfig,
    _Trainer,
    masked_bce_loss,
    train_model,
    weights_digest,
)
from components.model.training_data import LabelledTexts, positive_weights, read_frame

TAXONOMY = Taxonomy(
    categories=[
        Category(name="hate", description="Hatred of something."),
        Category(name="spam", description="Unwanted advertising.", threshold=0.4),
    ]
)
NOUNS = (
    "cats dogs rain mondays pizza music trains coffee winter books cars birds maps tea jazz".split()
)
SPAM_TAIL = " click here to win"


def synthetic_frame(rows: int, seed: int) -> pd.DataFrame:
    """'I hate x' is hate, 'I love x' is not, a sales tail is spam; a fifth of hate is unknown."""
    rng = np.random.default_rng(seed)
    hate = rng.random(rows) < 0.5
    spam = rng.random(rows) < 0.25
    unknown = rng.random(rows) < 0.2
    texts = [
        f"I {'hate' if h else 'love'} {rng.choice(NOUNS)}" + (SPAM_TAIL if s else "")
        for h, s in zip(hate, spam, strict=True)
    ]
    return pd.DataFrame(
        {
            "id": [f"{seed}-{i}" for i in range(rows)],
            "text": texts,
            "label_hate": pd.array(
                [None if u else int(h) for h, u in zip(hate, unknown, strict=True)], dtype="Int8"
            ),
            "label_spam": pd.array(spam.astype(int), dtype="Int8"),
            "source": "synthetic",
        }
    )


def tiny_config(**overrides) -> TrainConfig:
    settings = dict(
        base_model=TINY_BASE_MODEL,
        max_length=16,
        epochs=1,
        batch_size=16,
        learning_rate=3e-3,
        warmup_ratio=0.0,
        checkpoint_every_steps=4,
    )
    return TrainConfig(**{**settings, **overrides})


@pytest.fixture(autouse=True)
def one_thread():
    """Two threads per test on two shared cores thrash; one is several times faster here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def small_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    return synthetic_frame(96, seed=1), synthetic_frame(32, seed=2)


def write_inputs(
    directory: Path, train: pd.DataFrame, validation: pd.DataFrame, config: TrainConfig
) -> dict:
    """The CLI's input files; returns the frames as the CLI will read them back."""
    paths = {name: directory / f"{name}.jsonl" for name in ("train", "validation")}
    for name, frame in (("train", train), ("validation", validation)):
        lines = [json.dumps(r) for r in records_from_frame(frame, TAXONOMY.names)]
        paths[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    paths["taxonomy"] = directory / "taxonomy.yaml"
    paths["taxonomy"].write_text(yaml.safe_dump(TAXONOMY.model_dump()), encoding="utf-8")
    paths["config"] = directory / "config.yaml"
    paths["config"].write_text(yaml.safe_dump(config.model_dump()), encoding="utf-8")
    return paths


def cli_args(paths: dict, output: Path, *extra: str) -> list[str]:
    args = [f"--{name}={paths[name]}" for name in ("train", "validation", "taxonomy", "config")]
    return [*args, f"--output={output}", "--no-progress", *extra]


def run_cli(prefix: list[str], args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *prefix, "-m", "components.model.train_command", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def saved_digest(directory: Path) -> str:
    return weights_digest(ModerationModel.load(directory, device="cpu").model)


@pytest.mark.slow
@pytest.mark.parametrize("pooling", ["first_token", "mean"])
def test_training_learns_a_trivially_separable_signal(tmp_path, pooling):
    train, validation = synthetic_frame(240, seed=1), synthetic_frame(80, seed=2)
    result = train_model(
        train,
        validation,
        TAXONOMY,
        tiny_config(epochs=4, patience=4, pooling=pooling),
        tmp_path / "model",
        progress=False,
    )

    losses = [epoch["train_loss"] for epoch in result.history]
    assert losses[-1] < 0.5 * losses[0]
    assert result.history[result.best_epoch - 1]["val_macro_pr_auc"] > 0.95
    model = ModerationModel.load(result.model_dir)
    hate, love, spam = model.predict_scores(["I hate tea", "I love tea", "I love tea" + SPAM_TAIL])
    assert hate[0] > love[0] + 0.2
    assert spam[1] > 0.5 > love[1]


def test_unknown_labels_are_masked_out_of_the_loss():
    logits = torch.tensor([[2.0, -1.0], [0.5, 3.0], [-2.0, 0.0]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    known = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])  # the last row knows nothing
    loss = masked_bce_loss(logits, targets, known)

    only_known = F.binary_cross_entropy_with_logits(logits[known.bool()], targets[known.bool()])
    assert torch.allclose(loss, only_known)
    for filler in (0.0, 1.0, float("nan")):
        refilled = torch.where(known.bool(), targets, torch.full_like(targets, filler))
        assert torch.equal(masked_bce_loss(logits, refilled, known), loss)
    assert torch.equal(masked_bce_loss(logits[:2], targets[:2], known[:2]), loss)


def test_frames_keep_unknown_labels_unknown_and_weights_count_known_ones():
    frame = pd.DataFrame(
        {
            "text": ["a", "b", "c", "d", "e"],
            "label_hate": pd.array([1, None, 0, 0, None], dtype="Int8"),
        }
    )
    data = LabelledTexts.from_frame(frame, TAXONOMY, "train")  # no spam column: all unknown

    np.testing.assert_array_equal(data.known, [[1, 0], [0, 0], [1, 0], [1, 0], [0, 0]])
    np.testing.assert_array_equal(data.targets[:, 0], [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(
        positive_weights(data, cap=20.0), [2.0, 1.0]
    )  # 2 known negatives / 1
    assert positive_weights(data, cap=1.5)[0] == 1.5
    with pytest.raises(ModpipeError, match="0, 1 or null"):
        LabelledTexts.from_frame(frame.assign(label_hate=[1, 2, 0, 0, 1]), TAXONOMY, "train")


def test_early_stopping_keeps_the_best_epoch_not_the_last(tmp_path, small_split):
    config = tiny_config(epochs=4, patience=1, learning_rate=1e-7)  # too small to improve
    checkpoints = tmp_path / "checkpoints"

    result = train_model(*small_split, TAXONOMY, config, tmp_path / "model", checkpoints, False)

    assert (result.best_epoch, result.epochs_run) == (1, 2)
    saved = ModerationModel.load(result.model_dir, device="cpu").model.state_dict()
    best = torch.load(checkpoints / BEST_WEIGHTS_FILE, weights_only=True)
    last = torch.load(checkpoints / CHECKPOINT_FILE, weights_only=True)["model"]
    assert all(torch.equal(saved[name], best[name]) for name in best)
    assert not all(torch.equal(saved[name], last[name]) for name in last)


@pytest.mark.slow
def test_same_seed_and_config_give_the_same_weights(tmp_path, small_split):
    digests = [
        saved_digest(
            train_model(
                *small_split, TAXONOMY, tiny_config(seed=seed), tmp_path / name, progress=False
            ).model_dir
        )
        for name, seed in (("first", 5), ("again", 5), ("other_seed", 6))
    ]
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]


def test_length_grouping_pads_less_and_still_reads_every_row_once(small_split):
    train, validation = small_split
    long = np.random.default_rng(3).random(len(train)) < 0.5  # short and long texts, mixed
    train = train.assign(text=train["text"] + np.where(long, " and so on" * 7, ""))
    padded = {}
    for grouped in (False, True):
        config = tiny_config(max_length=32, batch_size=4, group_by_length=grouped)
        trainer = _Trainer(train, validation, TAXONOMY, config, None, progress_bar=False)
        batches = trainer._epoch_batches()
        assert sorted(i for batch in batches for i in batch) == list(range(len(train)))
        tokens = trainer.classifier.encode_lengths(trainer.train_data.texts)
        padded[grouped] = sum(max(tokens[i] for i in batch) * len(batch) for batch in batches)
    assert padded[True] < 0.8 * padded[False]


@pytest.mark.slow
@pytest.mark.parametrize("group_by_length", [False, True])
def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path, small_split, group_by_length):
    # 6 steps an epoch, checkpoints at steps 4, 6 (epoch end), 8
    config = tiny_config(epochs=2, group_by_length=group_by_length)
    paths = write_inputs(tmp_path, *small_split, config)
    checkpoints = tmp_path / "checkpoints"

    crashed = run_cli(
        [],
        cli_args(paths, tmp_path / "model", f"--checkpoint-dir={checkpoints}"),
        **{STOP_AFTER_STEPS_ENV: "9"},
    )
    assert crashed.returncode != 0 and "stopped after 9 steps" in crashed.stderr
    assert (checkpoints / CHECKPOINT_FILE).is_file() and not (tmp_path / "model").exists()

    train, validation = read_frame(paths["train"]), read_frame(paths["validation"])
    resumed = train_model(
        train, validation, TAXONOMY, config, tmp_path / "model", checkpoints, progress=False
    )
    assert resumed.resumed_from == {"epoch": 1, "step_in_epoch": 2, "global_step": 8}
    assert resumed.steps_run == 4 and resumed.epochs_run == 2

    uninterrupted = train_model(
        train, validation, TAXONOMY, config, tmp_path / "straight", progress=False
    )
    assert resumed.history == uninterrupted.history
    assert saved_digest(resumed.model_dir) == saved_digest(uninterrupted.model_dir)


@pytest.mark.slow
def test_a_checkpoint_from_another_config_is_ignored(tmp_path, small_split, monkeypatch, caplog):
    checkpoints = tmp_path / "checkpoints"
    monkeypatch.setenv(STOP_AFTER_STEPS_ENV, "5")
    with pytest.raises(SystemExit):
        train_model(
            *small_split, TAXONOMY, tiny_config(), tmp_path / "model", checkpoints, progress=False
        )
    monkeypatch.delenv(STOP_AFTER_STEPS_ENV)

    result = train_model(
        *small_split,
        TAXONOMY,
        tiny_config(learning_rate=1e-3),
        tmp_path / "model",
        checkpoints,
        progress=False,
    )
    assert result.resumed_from is None and result.steps_run == 6
    assert "belongs to another run" in caplog.text


@pytest.mark.slow
@pytest.mark.parametrize(
    "settings",
    [
        {"pooling": "first_token"},
        {"pooling": "mean"},  # no unused pooler for DDP
        # masked copies are chosen by a pass of each replica's module outside DDP
        {"pooling": "mean", "counterfactual_pairing": 1.0, "pairing_copies": "masked_token"},
    ],
    ids=["first_token", "mean", "masked_token_pairing"],
)
def test_ddp_on_two_cpu_processes_keeps_replicas_identical(tmp_path, small_split, settings):
    paths = write_inputs(tmp_path, *small_split, tiny_config(epochs=2, **settings))
    digests, result_file = tmp_path / "digests", tmp_path / "result.json"
    digests.mkdir()
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    args = cli_args(
        paths, tmp_path / "model", f"--checkpoint-dir={tmp_path / 'ck'}", f"--result={result_file}"
    )

    finished = run_cli(torchrun, args, **{WEIGHTS_DIGEST_DIR_ENV: str(digests)})

    assert finished.returncode == 0, finished.stderr[-3000:]
    rank0, rank1 = [(digests / f"rank{rank}.sha256").read_text() for rank in (0, 1)]
    assert rank0 == rank1
    result = json.loads(result_file.read_text())
    assert (
        result["epochs_run"] == 2 and result["steps_run"] == 6
    )  # 96 rows / 2 ranks / 16 a batch, twice
    assert (tmp_path / "model" / MODEL_CARD).is_file()


@pytest.mark.parametrize("pooling", ["first_token", "mean"])
def test_a_saved_model_loads_back_with_the_same_scores(tmp_path, pooling):
    network, tokenizer = build_classifier(TINY_BASE_MODEL, TAXONOMY, seed=3, pooling=pooling)
    model = ModerationModel(network, tokenizer, TAXONOMY, TINY_BASE_MODEL, max_length=16)
    texts = ["I love tea", "I hate mondays" + SPAM_TAIL, "rain", "I love tea and jazz and coffee"]
    scores = model.predict_scores(texts, batch_size=2)

    loaded = ModerationModel.load(model.save(tmp_path / "model"))

    np.testing.assert_allclose(loaded.predict_scores(texts, batch_size=2), scores, atol=1e-6)
    np.testing.assert_allclose(
        loaded.predict_scores(texts[::-1], batch_size=3), scores[::-1], atol=1e-5
    )
    assert loaded.categories == ["hate", "spam"]
    assert loaded.thresholds == {"hate": 0.5, "spam": 0.4}
    assert loaded.model.config.problem_type == "multi_label_classification"
    assert read_model_card(tmp_path / "model").pooling == pooling
    with pytest.raises(ModpipeError, match="not a saved moderation model"):
        ModerationModel.load(tmp_path)


@pytest.mark.parametrize("pooling", ["first_token", "mean"])
def test_the_default_minilm_builds_a_multi_label_head_offline(monkeypatch, pooling):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    network, _ = build_classifier(DEFAULT_BASE_MODEL, TAXONOMY, seed=0, pooling=pooling)
    assert network.config.id2label == {0: "hate", 1: "spam"}
    assert network.config.problem_type == "multi_label_classification"
    # Mean pooling drops the first-token pooler: DDP refuses parameters without gradients.
    pooler = {name for name, _ in network.named_parameters() if "pooler" in name}
    assert bool(pooler) == (pooling == "first_token")


def test_the_cli_reports_config_typos(tmp_path, small_split, capsys):
    paths = write_inputs(tmp_path, *small_split, tiny_config())
    paths["config"].write_text("learning_rat: 0.1\n", encoding="utf-8")

    assert main(cli_args(paths, tmp_path / "model")) == 2
    assert "learning_rat: Extra inputs are not permitted" in capsys.readouterr().err


def annotated_frame() -> pd.DataFrame:
    frame = synthetic_frame(4, seed=3)
    frame["label_hate"] = pd.array([1, 0, 1, None], dtype="Int8")
    frame["soft_labels"] = [{"hate": 0.6}, {"hate": 0.25, "spam": 0.5}, None, {"hate": 0.9}]
    frame["agreement"] = [0.6, 0.75, None, 0.9]
    return frame


def test_soft_labels_replace_known_targets_with_annotator_shares():
    data = LabelledTexts.from_frame(annotated_frame(), TAXONOMY, "train", soft_labels="soft")
    hard = LabelledTexts.from_frame(annotated_frame(), TAXONOMY, "train")
    np.testing.assert_allclose(data.targets[:, 0], [0.6, 0.25, 1.0, 0.0])  # unknown stays out
    assert data.targets[1, 1] == 0.5 and hard.targets[1, 1] == hard.targets[1, 1]
    np.testing.assert_array_equal(hard.targets[:, 0], [1, 0, 1, 0])
    np.testing.assert_array_equal(data.known, hard.known)
    np.testing.assert_array_equal(data.weights, np.ones(4))


def test_agreement_weights_each_rows_loss():
    data = LabelledTexts.from_frame(annotated_frame(), TAXONOMY, "train", soft_labels="agreement")
    np.testing.assert_allclose(data.weights, [0.6, 0.75, 1.0, 0.9])
    logits = torch.tensor([[3.0, -1.0], [1.0, 2.0]])
    targets, known = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.ones(2, 2)
    weighted = masked_bce_loss(logits, targets, known, weights=torch.tensor([1.0, 0.0]))
    assert torch.allclose(weighted, masked_bce_loss(logits[:1], targets[:1], known[:1]))


def test_source_weights_multiply_the_named_sources_rows():
    frame = annotated_frame().assign(source=["seed", "davidson", "seed", "sms-spam"])
    data = LabelledTexts.from_frame(
        frame, TAXONOMY, "train", soft_labels="agreement", source_weights={"seed": 3.0}
    )
    np.testing.assert_allclose(data.weights, [1.8, 0.75, 3.0, 0.9])


def test_source_weights_refuse_a_source_the_split_lacks():
    frame = annotated_frame().assign(source="seed")
    with pytest.raises(ModpipeError, match="sources without rows: sede .*has: seed"):
        LabelledTexts.from_frame(frame, TAXONOMY, "train", source_weights={"sede": 2.0})


def group_frame(rows: int, seed: int) -> pd.DataFrame:
    """Hate names "white" nine times in ten, benign text one time in ten: the group's name
    alone predicts hate, as in scraped abuse."""
    rng = np.random.default_rng(seed)
    hate = rng.random(rows) < 0.5
    group = rng.random(rows) < np.where(hate, 0.9, 0.1)
    texts = [
        f"I {'hate' if h else 'love'} {'the white ' if g else ''}{rng.choice(NOUNS)}"
        for h, g in zip(hate, group, strict=True)
    ]
    frame = synthetic_frame(rows, seed).assign(text=texts)
    return frame.assign(label_hate=pd.array(hate.astype(int), dtype="Int8"))


def hate_logits(model: ModerationModel, template: str) -> np.ndarray:
    return model.predict_logits([template.format(noun) for noun in NOUNS])[:, 0]


@pytest.mark.slow
def test_counterfactual_pairing_stops_a_groups_name_raising_hate_in_benign_text(tmp_path):
    """With the group's term listed (neutral copies) and without a list (masked copies)."""
    train, validation = group_frame(240, seed=1), group_frame(80, seed=2)
    gaps = {}
    for copies, weight in [
        ("neutral_identities", 0.0),
        ("neutral_identities", 1.0),
        ("masked_token", 1.0),
    ]:
        config = tiny_config(
            epochs=4, patience=4, counterfactual_pairing=weight, pairing_copies=copies
        )
        result = train_model(
            train, validation, TAXONOMY, config, tmp_path / f"{copies}{weight}", None, False
        )
        model = ModerationModel.load(result.model_dir, device="cpu")
        # Still learnt what hate is, where no group is named ...
        assert (hate_logits(model, "I hate {}") > hate_logits(model, "I love {}") + 1.0).all()
        # ... and how far naming the group in benign text moves it
        named, neutral = (
            hate_logits(model, "I love the white {}"),
            hate_logits(model, "I love the local {}"),
        )
        gaps[copies, weight] = float(np.mean(named - neutral))

    unpaired = gaps["neutral_identities", 0.0]
    assert unpaired > 0.5  # the group's name alone raises hate
    assert abs(gaps["neutral_identities", 1.0]) < 0.25 * unpaired
    assert abs(gaps["masked_token", 1.0]) < 0.25 * unpaired
