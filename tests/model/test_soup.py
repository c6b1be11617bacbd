"""A uniform soup: every weight the mean of its members' (the evidence head's too), only models
alike can join, and the training stage trains one member per seed and logs each."""

import mlflow
import pandas as pd
import pytest
import torch
from test_train import TAXONOMY, synthetic_frame, tiny_config

from components.config import PipelineConfig
from components.data.canonical import DatasetCard, write_dataset
from components.errors import ModpipeError
from components.model.base_model import TINY_BASE_MODEL
from components.model.evidence_head import EvidenceHead
from components.model.evidence_lexicon import EvidenceLexicon
from components.model.modeling import ModerationModel, build_classifier
from components.model.soup import uniform_soup
from components.registry.tracking import setup_tracking
from components.stages.train import train_stage

TEXTS = ["I hate rain", "I love tea click here to win", "cats"]


def saved(folder, seed: int, pooling="mean", lexicon=None):
    """An untrained model whose weights (the classifier's head and the evidence head) follow
    ``seed``."""
    network, tokenizer = build_classifier(TINY_BASE_MODEL, TAXONOMY, seed, pooling)
    torch.manual_seed(seed)
    head = EvidenceHead(network.config.hidden_size, len(TAXONOMY.names))
    lexicon = EvidenceLexicon(lexicon or {"hate": {"hate": 0.9}, "spam": {}})
    model = ModerationModel(
        network,
        tokenizer,
        TAXONOMY,
        TINY_BASE_MODEL,
        max_length=16,
        evidence_head=head,
        evidence_lexicon=lexicon,
    )
    return model.save(folder / f"seed-{seed}-{pooling}")


def weights(model: ModerationModel) -> dict[str, torch.Tensor]:
    state = {f"model.{k}": v for k, v in model.model.state_dict().items()}
    return state | {f"head.{k}": v for k, v in model.evidence_head.state_dict().items()}


def test_every_weight_of_a_soup_is_its_members_mean(tmp_path):
    members = [saved(tmp_path, seed) for seed in (1, 2, 3)]

    soup = ModerationModel.load(uniform_soup(members, tmp_path / "soup"), device="cpu")

    loaded = [weights(ModerationModel.load(m, device="cpu")) for m in members]
    averaged = weights(soup)
    assert set(averaged) == set(loaded[0])
    for name, tensor in averaged.items():
        expected = torch.stack([member[name] for member in loaded]).to(tensor.dtype).mean(dim=0)
        if tensor.is_floating_point():
            torch.testing.assert_close(tensor, expected)
        else:
            assert torch.equal(tensor, loaded[0][name])
    assert not torch.equal(averaged["head.linear.weight"], loaded[0]["head.linear.weight"])
    assert soup.evidence_lexicon.scores == {"hate": {"hate": 0.9}, "spam": {}}
    assert soup.predict_scores(TEXTS).shape == (3, 2) and soup.has_evidence_head


def test_only_alike_models_join_a_soup(tmp_path):
    mean = saved(tmp_path, 1)
    with pytest.raises(ModpipeError, match="their pooling differ"):
        uniform_soup([mean, saved(tmp_path, 2, pooling="first_token")], tmp_path / "soup")
    other_rows = saved(tmp_path, 3, lexicon={"hate": {"rain": 0.5}, "spam": {}})
    with pytest.raises(ModpipeError, match="trained on different rows"):
        uniform_soup([mean, other_rows], tmp_path / "soup")
    with pytest.raises(ModpipeError, match="two models or more; got 1"):
        uniform_soup([mean], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()


def test_the_training_stage_soups_one_model_per_seed_and_logs_each(tmp_path, monkeypatch):
    card = DatasetCard(name="split", source="test", categories=TAXONOMY.categories)
    train, validation = synthetic_frame(64, seed=1), synthetic_frame(32, seed=2)
    splits = [train.assign(split="train"), validation.assign(split="validation")]
    write_dataset(tmp_path / "splits", card, pd.concat(splits, ignore_index=True))
    settings = tiny_config(soup_seeds=2, seed=5).model_dump()
    config = PipelineConfig(name="souped", checkpoints=str(tmp_path / "ck"), train=settings)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    setup_tracking(uri)

    with mlflow.start_run() as run:
        result = train_stage(config, tmp_path / "splits", tmp_path / "model")

    metrics = mlflow.MlflowClient().get_run(run.info.run_id).data.metrics
    assert {"seed_5.val_loss", "seed_6.val_loss", "seed_5.steps_run"} <= set(metrics)
    assert result.steps_run == metrics["seed_5.steps_run"] + metrics["seed_6.steps_run"] == 8
    assert sorted(p.name for p in (tmp_path / "ck" / "souped").iterdir()) == ["seed-5", "seed-6"]
    soup = ModerationModel.load(result.model_dir, device="cpu")
    assert soup.predict_scores(TEXTS).shape == (3, 2)
