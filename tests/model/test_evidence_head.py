"""The evidence head on a tiny model: it trains on rationale spans (rows without spans add no
token loss), is saved and loaded with its flag on torch and ONNX Runtime, and scores the
characters of the original text, after normalisation and past the first window."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from test_long_texts import BENIGN
from test_train import TAXONOMY, synthetic_frame, tiny_config
from transformers import AutoTokenizer

from components.config import DEFAULT_BASE_MODEL
from components.errors import ModpipeError
from components.model.base_model import resolve_base_model
from components.model.evidence_head import EVIDENCE_HEAD_FILE, EvidenceTargets
from components.model.evidence_lexicon import LEXICON_FILE, PRIOR, WEIGHT, EvidenceLexicon
from components.model.evidence_quality import character_f1, evidence_agreement
from components.model.evidence_report import examples_html
from components.model.metrics import flat_metrics
from components.model.modeling import (
    MODEL_CARD,
    ModerationModel,
)
from components.model.onnx_export import FP32_TOLERANCE, check_parity, export_onnx
from components.model.onnx_runtime import read_onnx_manifest
from components.model.training import masked_bce_loss, train_model

HATE, SPAM = TAXONOMY.names.index("hate"), TAXONOMY.names.index("spam")


def with_spans(frame, share: float = 0.75, seed: int = 3):
    """The synthetic rows, most with their evidence marked: the word "hate" of hate rows and
    the sales tail of spam rows; the rest carry no rationale."""
    rng = np.random.default_rng(seed)
    rationales = []
    for text in frame["text"]:
        spans = []
        if " hate " in text:
            spans.append({"start": 2, "end": 6, "type": "hate"})
        if text.endswith(" click here to win"):
            spans.append({"start": len(text) - 17, "end": len(text), "type": "spam"})
        rationales.append({"evidence": spans} if spans and rng.random() < share else None)
    return frame.assign(rationale=rationales)


@pytest.fixture(scope="module")
def evidence_model_dir(tmp_path_factory):
    torch.set_num_threads(1)
    train = with_spans(synthetic_frame(240, seed=1))
    validation = synthetic_frame(80, seed=2)
    config = tiny_config(epochs=4, patience=4, evidence_head=True)
    folder = tmp_path_factory.mktemp("evidence-model") / "model"
    train_model(train, validation, TAXONOMY, config, folder, progress=False)
    return folder


@pytest.fixture(scope="module")
def evidence_model(evidence_model_dir):
    return ModerationModel.load(evidence_model_dir, device="cpu")


def hate_scores(model: ModerationModel, text: str) -> np.ndarray:
    return model.evidence_scores([text])[0][:, HATE]


def test_the_head_learns_where_the_evidence_is_and_is_saved_with_its_flag(
    evidence_model_dir, evidence_model
):
    card = json.loads((evidence_model_dir / MODEL_CARD).read_text())
    assert card["evidence_head"] is True and (evidence_model_dir / EVIDENCE_HEAD_FILE).is_file()
    assert evidence_model.has_evidence_head
    scores = hate_scores(evidence_model, "I hate rain")
    assert scores[2:6].min() > 0.5 > scores[7:].max()  # "hate", not "rain"
    assert scores[1] == scores[6] == 0.0  # the spaces between tokens


@pytest.mark.parametrize(
    "pairing",
    # masked copies are chosen through the head's wrapper (its input embeddings)
    [{}, {"counterfactual_pairing": 1.0, "pairing_copies": "masked_token"}],
    ids=["unpaired", "masked_token_pairing"],
)
def test_a_mean_pooled_model_loads_back_with_its_head(tmp_path, pairing):
    train, validation = with_spans(synthetic_frame(96, seed=1)), synthetic_frame(32, seed=2)
    config = tiny_config(evidence_head=True, pooling="mean", **pairing)
    result = train_model(train, validation, TAXONOMY, config, tmp_path / "m", progress=False)

    loaded = ModerationModel.load(result.model_dir, device="cpu")

    assert (
        loaded.has_evidence_head
        and json.loads((tmp_path / "m" / MODEL_CARD).read_text())["pooling"] == "mean"
    )
    assert loaded.evidence_scores(["I hate rain"])[0].shape == (len("I hate rain"), 2)


def test_scores_have_a_row_per_character_of_the_original_text(evidence_model):
    texts = ["I love tea click here to win", "", "I hate dogs"]
    scores = evidence_model.evidence_scores(texts, batch_size=2)
    assert [s.shape for s in scores] == [(len(t), 2) for t in texts]
    tail = scores[0][-17:, SPAM]
    assert tail.max() > 0.5 > scores[0][:10, SPAM].max()
    assert evidence_model.evidence_scores([]) == []


def test_offsets_are_exact_in_the_original_text_after_normalisation(evidence_model):
    plain = "I hate tea"
    # A zero-width space and a fullwidth "ｈ" before the span, a Cyrillic "е" inside "tea".
    disguised = "I\u200b \uff48\u200bate t\u0435a"
    want, got = hate_scores(evidence_model, plain), hate_scores(evidence_model, disguised)
    assert len(got) == len(disguised)
    # Each kept character scores as its plain twin; the dropped zero-width ones score 0.
    kept = [0, 2, 3, 5, 6, 7, 8, 9, 10, 11]
    np.testing.assert_allclose(got[kept], want, atol=1e-6)
    assert got[1] == got[4] == 0.0
    assert got[[3, 5, 6, 7]].min() > 0.5  # "ｈ\u200bate": the span, in the caller's offsets


def test_evidence_past_the_first_window_is_scored(evidence_model):
    text = f"{BENIGN} I hate tea"
    assert len(evidence_model.windows([text]).input_ids) > 1
    scores = hate_scores(evidence_model, text)
    start = text.rindex("hate")
    assert scores[start : start + 4].min() > 0.5
    assert scores[start : start + 4].min() > scores[: len(BENIGN)].max()


def targets_of(frame) -> EvidenceTargets:
    labels = frame[["label_hate", "label_spam"]].astype("Float64")
    known = labels.notna().to_numpy(dtype=np.float32)
    targets = labels.fillna(0).to_numpy(dtype=np.float32)
    return EvidenceTargets.from_frame(frame, TAXONOMY.names, targets, known, normalise=True)


def test_the_lexicon_counts_marked_words_where_the_head_s_loss_does():
    frame = synthetic_frame(3, seed=5).assign(
        text=["I hate rain", "I hate tea", "I hate dogs click here to win"],
        label_hate=[1, 1, 1],
        label_spam=[0, 0, None],
        rationale=[
            {"evidence": [{"start": 2, "end": 6, "type": "hate"}]},
            None,  # no spans: nothing counted, as nothing enters the token loss
            {"evidence": [{"start": 2, "end": 6, "type": "hate"}]},
        ],
    )
    lexicon = EvidenceLexicon.learn(targets_of(frame), TAXONOMY.names)
    assert lexicon.scores["hate"] == {"hate": round(2 / (2 + PRIOR), 4)}
    # spam is known 0 in row 1 (its words count, unmarked) and unknown in row 3 (not counted)
    assert lexicon.scores["spam"] == {}
    scores = lexicon.character_scores("Oh HATE\u200b!", TAXONOMY.names)
    assert scores[:, HATE].tolist() == [0, 0, 0] + [0.5] * 4 + [0, 0]  # the dropped one too


def test_the_lexicon_is_saved_with_the_head_and_joined_to_its_scores(
    evidence_model_dir, evidence_model
):
    assert (evidence_model_dir / LEXICON_FILE).is_file()
    lexicon = evidence_model.evidence_lexicon
    assert lexicon.scores["hate"]["hate"] > 0.9 and "rain" not in lexicon.scores["hate"]
    joined = evidence_model.evidence_scores(["I hate rain"])[0]
    evidence_model.evidence_lexicon = None
    try:
        head = evidence_model.evidence_scores(["I hate rain"])[0]
    finally:
        evidence_model.evidence_lexicon = lexicon
    expected = (1 - WEIGHT) * head + WEIGHT * lexicon.character_scores(
        "I hate rain", TAXONOMY.names
    )
    np.testing.assert_allclose(joined, expected, atol=1e-6)
    assert joined[2:6, HATE].min() > head[2:6, HATE].min()


def test_every_evaluation_measures_the_evidence_against_the_annotators_spans(evidence_model):
    def test_rows(hate_span: tuple[int, int]):
        spans = [{"start": hate_span[0], "end": hate_span[1], "type": "hate"}]
        return pd.DataFrame(
            {
                "text": ["I hate rain", "I hate tea", "just rain"],
                "rationale": [{"evidence": spans}, {"evidence": spans}, None],
            }
        )

    def agreement(model, rows):
        return evidence_agreement(model, rows, model.predict_scores(rows["text"].tolist()))

    right = agreement(evidence_model, test_rows((2, 6)))
    assert right == {"f1": 1.0, "rows": 2, "method": "evidence head"}  # the third has no spans
    wrong = agreement(evidence_model, test_rows((7, 10)))  # "rain", "tea" as gold
    assert wrong == {"f1": 0.0, "rows": 2, "method": "evidence head"}
    assert agreement(evidence_model, test_rows((2, 6)).iloc[2:]) is None
    assert character_f1({1, 2}, {2, 3}) == 0.5 and character_f1(set(), set()) == 1.0
    metrics = {"per_category": {}, "macro": {}, "evidence": right}
    assert flat_metrics(metrics, "test.") == {"test.evidence.f1": 1.0, "test.evidence.rows": 2.0}
    assert "evidence head's evidence" in examples_html([], right)
    assert "character F1 <b>1.000</b>" in examples_html([], right)


def test_the_gold_is_what_at_least_half_of_the_annotators_marked(evidence_model):
    def agreement(rain_marked_by: int) -> float:
        spans = [
            {"start": 2, "end": 6, "type": "hate", "annotators": 2},
            {"start": 7, "end": 11, "type": "spam", "annotators": rain_marked_by},
        ]
        rows = pd.DataFrame(
            {"text": ["I hate rain"], "rationale": [{"annotators": 4, "evidence": spans}]}
        )
        scores = evidence_model.predict_scores(rows["text"].tolist())
        return evidence_agreement(evidence_model, rows, scores)["f1"]

    assert agreement(rain_marked_by=1) == 1.0  # "hate" alone, as the model marks it
    assert abs(agreement(rain_marked_by=2) - 2 * 4 / (4 + 8)) < 1e-9


def test_a_model_without_a_head_says_so(reference):
    assert not reference.has_evidence_head
    with pytest.raises(ModpipeError, match="no evidence head"):
        reference.evidence_scores(["some text"])


def test_rows_without_spans_add_no_token_loss():
    frame = with_spans(synthetic_frame(40, seed=5), share=0.5)
    has_spans = frame["rationale"].notna().to_numpy().copy()
    evidence = targets_of(frame)
    model = ModerationModel(
        None,
        AutoTokenizer.from_pretrained(resolve_base_model(DEFAULT_BASE_MODEL)),
        TAXONOMY,
        "",
        16,
    )
    encoded = model.encode(frame["text"].tolist(), offsets=True)
    offsets = encoded["offset_mapping"]
    token_targets, token_known = evidence.batch(list(range(len(frame))), offsets)
    assert 0 < has_spans.sum() < len(frame)
    assert token_known[~has_spans].sum() == 0 and token_known[has_spans].sum() > 0
    logits = torch.randn(token_targets.shape, requires_grad=True)
    flat = (t.reshape(-1, 2) for t in (logits, token_targets, token_known))
    masked_bce_loss(*flat).backward()
    assert logits.grad[~has_spans].abs().sum() == 0
    assert logits.grad[has_spans].abs().sum() > 0
    # Where a row marks hate spans, the word "hate" is the target and the rest known 0.
    row = int(np.flatnonzero(has_spans & frame["text"].str.contains(" hate ").to_numpy())[0])
    ids = encoded["input_ids"][row][token_targets[row, :, HATE] == 1]
    assert model.tokenizer.convert_ids_to_tokens(ids.tolist()) == ["hate"]
    assert token_known[row, :, HATE].sum() == encoded["attention_mask"][row].sum() - 2


@pytest.mark.slow
def test_the_onnx_export_carries_the_head(evidence_model_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(evidence_model_dir, folder)
    export_onnx(ModerationModel.load(folder, device="cpu"), folder)
    texts = ["I hate tea", f"{BENIGN} I hate rain", "ünïcödé t\u0435xt", ""]
    result = check_parity(folder, texts)
    assert result["fp32"]["max_evidence_diff"] <= FP32_TOLERANCE
    assert read_onnx_manifest(folder).fused_operators["Attention"] == 2  # still fused
    onnx_model = ModerationModel.load(folder, backend="onnx")
    assert onnx_model.has_evidence_head
    assert hate_scores(onnx_model, "I hate rain")[2:6].min() > 0.5


def test_a_malformed_rationale_names_its_row():
    frame = synthetic_frame(3, seed=5).assign(
        rationale=[None, {"evidence": [{"start": 5, "end": 2, "type": "hate"}]}, None]
    )
    ones = np.ones((3, 2), dtype=np.float32)
    with pytest.raises(ModpipeError, match="train row 2: rationale: .*ends before it starts"):
        EvidenceTargets.from_frame(frame, TAXONOMY.names, ones, ones, normalise=True)
