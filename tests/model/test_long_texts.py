"""Long texts are scored whole: over overlapping windows, each category taking its highest."""

import json

import numpy as np
import pytest
import torch
from test_train import NOUNS, TAXONOMY, synthetic_frame, tiny_config

from components.model.modeling import MODEL_CARD, ModerationModel, Windows
from components.model.training import train_model

BENIGN = " ".join(f"I love {NOUNS[i % len(NOUNS)]}." for i in range(30))  # ~330 characters


@pytest.fixture(scope="module")
def keyword_model(tmp_path_factory) -> ModerationModel:
    """A tiny model that learnt 'I hate x' is hate, in 16-token windows."""
    torch.set_num_threads(1)
    train, validation = synthetic_frame(240, seed=1), synthetic_frame(80, seed=2)
    folder = tmp_path_factory.mktemp("keyword-model")
    config = tiny_config(epochs=4, patience=4)
    result = train_model(train, validation, TAXONOMY, config, folder, progress=False)
    return ModerationModel.load(result.model_dir, device="cpu")


def first_window_only(model: ModerationModel, text: str) -> float:
    windows = model.windows([text])
    first = Windows(windows.input_ids[:1], windows.owners[:1], 1)
    return float(first.pool(model.score_windows(first.input_ids))[0, 0])


def test_a_long_text_has_overlapping_windows_and_a_short_one_has_one(keyword_model):
    windows = keyword_model.windows([BENIGN, "I hate tea"])
    counts = np.bincount(windows.owners)
    assert counts[1] == 1 and counts[0] > 5
    assert all(len(ids) <= keyword_model.max_length for ids in windows.input_ids)
    first, second = (ids[1:-1] for ids in windows.input_ids[:2])  # without [CLS] and [SEP]
    half = keyword_model.max_length // 2
    assert first[-half:] == second[:half]  # consecutive windows overlap by half a window


def test_a_threat_after_300_characters_of_benign_text_is_flagged_as_it_is_alone(keyword_model):
    threshold = keyword_model.thresholds["hate"]
    alone, padded, benign = keyword_model.predict_scores(
        ["I hate tea", f"{BENIGN} I hate tea", BENIGN]
    )[:, 0]
    assert len(BENIGN) > 300
    assert alone >= threshold and padded >= threshold > benign
    # Cut to its first window, as models used to read texts, the padded threat goes unseen.
    assert np.log(padded / (1 - padded)) > first_window_only(keyword_model, f"{BENIGN} I hate tea")
    assert first_window_only(keyword_model, f"{BENIGN} I hate tea") < np.log(
        threshold / (1 - threshold)
    )


def test_windowed_scores_do_not_depend_on_batching(keyword_model):
    texts = [BENIGN + " I hate tea", "I love tea", BENIGN, "I hate rain"]
    together = keyword_model.predict_scores(texts, batch_size=3)
    alone = np.vstack([keyword_model.predict_scores([text]) for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert keyword_model.predict_scores([]).shape == (0, 2)


def test_training_and_scoring_read_the_same_normalised_text(keyword_model):
    disguised, plain = "I h\u200ba\u200bte tеa", "I hate tea"  # zero-width, a Cyrillic е
    assert keyword_model.normalization is not None
    assert keyword_model.windows([disguised]).input_ids == keyword_model.windows([plain]).input_ids
    np.testing.assert_array_equal(
        keyword_model.encode([disguised])["input_ids"], keyword_model.encode([plain])["input_ids"]
    )


def test_a_model_saved_before_normalisation_reads_texts_as_they_are(keyword_model, tmp_path):
    keyword_model.save(tmp_path / "old")
    card = tmp_path / "old" / MODEL_CARD
    fields = json.loads(card.read_text())
    del fields["normalization"]  # as cards were written before it
    card.write_text(json.dumps(fields))
    old = ModerationModel.load(tmp_path / "old", device="cpu")
    assert old.normalization is None
    assert old.prepare(["h\u200bate"]) == ["h\u200bate"]
