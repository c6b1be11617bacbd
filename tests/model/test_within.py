"""Categories within broader ones: a narrower positive trains as a broader positive, and the
narrower score never exceeds the broader ones' highest, in every scoring path."""

import numpy as np
import pandas as pd
import pytest
import torch
from test_train import synthetic_frame, tiny_config

from components.data.canonical import Category, Taxonomy
from components.errors import ModpipeError
from components.model.modeling import (
    TINY_BASE_MODEL,
    ModelCard,
    ModerationModel,
    build_classifier,
    read_model_card,
)
from components.model.onnx_export import export_onnx
from components.model.training import train_model
from components.model.training_data import LabelledTexts
from components.model.within import cap_logits, check_within, lift_targets

TAXONOMY = Taxonomy(
    categories=[
        Category(name="hate", description="Hatred of a group."),
        Category(name="toxic", description="Abuse of any kind."),
    ]
)
WITHIN = {"hate": ["toxic"]}
TEXTS = ["I hate cats", "I love tea", "cats and dogs", "you are lovely", "win a prize", "rain"]


def test_a_narrower_positive_trains_as_a_broader_positive():
    frame = pd.DataFrame(
        {
            "text": ["a", "b", "c", "d"],
            "label_hate": pd.array([1, 1, 0, None], dtype="Int8"),
            "label_toxic": pd.array([None, 0, None, 0], dtype="Int8"),
        }
    )

    lifted = LabelledTexts.from_frame(frame, TAXONOMY, "train", within=WITHIN)
    plain = LabelledTexts.from_frame(frame, TAXONOMY, "train")

    np.testing.assert_array_equal(lifted.targets[:, 1], [1, 1, 0, 0])
    np.testing.assert_array_equal(lifted.known[:, 1], [1, 1, 0, 1])
    np.testing.assert_array_equal(plain.known[:, 1], [0, 1, 0, 1])
    np.testing.assert_array_equal(lifted.targets[:, 0], plain.targets[:, 0])


def test_soft_targets_lift_the_broader_to_at_least_the_narrower():
    targets = np.array([[0.7, 0.4], [0.3, 0.1], [0.6, 0.9]], dtype=np.float32)
    known = np.ones_like(targets)

    lifted, _ = lift_targets(targets, known, WITHIN, TAXONOMY.names)

    np.testing.assert_allclose(lifted[:, 1], [0.7, 0.1, 0.9])  # 0.3 is not a hate positive


def test_a_chain_of_categories_is_capped_all_the_way_down():
    logits = np.array([[5.0, 3.0, 1.0], [-2.0, 4.0, 0.0]])
    within = {"narrow": ["middle"], "middle": ["broad"]}

    capped = cap_logits(logits, within, ["narrow", "middle", "broad"])

    np.testing.assert_array_equal(capped, [[1.0, 1.0, 1.0], [-2.0, 0.0, 0.0]])


@pytest.mark.parametrize(
    ("within", "message"),
    [({"hate": ["abuse"]}, "lacks: abuse"), ({"hate": ["hate", "toxic"]}, "within itself: hate")],
)
def test_unknown_and_circular_categories_are_refused(within, message):
    with pytest.raises(ModpipeError, match=message):
        check_within(within, TAXONOMY.names)
    with pytest.raises(ValueError, match=message):
        ModelCard(
            categories=TAXONOMY.categories,
            thresholds={"hate": 0.5, "toxic": 0.5},
            base_model=TINY_BASE_MODEL,
            max_length=16,
            within=within,
        )


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_a_saved_model_scores_the_narrower_at_most_the_broader(tmp_path, backend):
    network, tokenizer = build_classifier(TINY_BASE_MODEL, TAXONOMY, 3, "mean")
    with torch.no_grad():
        network.classifier.bias[0] += 0.2  # hate above toxic on some texts, not all
    model = ModerationModel(network, tokenizer, TAXONOMY, TINY_BASE_MODEL, 16, within=WITHIN)
    directory = model.save(tmp_path / "model")
    export_onnx(model, directory)
    loaded = ModerationModel.load(directory, device="cpu", backend=backend, threads=1)

    scores = loaded.predict_scores(TEXTS)
    loaded.within = {}
    uncapped = loaded.predict_scores(TEXTS)

    assert read_model_card(directory).within == WITHIN
    assert (uncapped[:, 0] > uncapped[:, 1]).any(), "the untrained head must need the cap"
    np.testing.assert_allclose(scores[:, 0], np.minimum(uncapped[:, 0], uncapped[:, 1]), rtol=1e-6)
    np.testing.assert_allclose(scores[:, 1], uncapped[:, 1], rtol=1e-6)


@pytest.mark.slow
def test_training_with_within_saves_it_and_refuses_unknown_categories(tmp_path):
    train = synthetic_frame(48, seed=1).rename(columns={"label_spam": "label_toxic"})
    validation = synthetic_frame(16, seed=2).rename(columns={"label_spam": "label_toxic"})

    trained = train_model(
        train, validation, TAXONOMY, tiny_config(within=WITHIN), tmp_path / "m", progress=False
    )

    assert read_model_card(trained.model_dir).within == WITHIN
    with pytest.raises(ModpipeError, match="lacks: spam"):
        train_model(
            train, validation, TAXONOMY, tiny_config(within={"hate": ["spam"]}), tmp_path / "x"
        )
