"""Evidence spans (components.model.evidence): the shared span extractor, words in original
offsets, occlusion on the tiny model (torch and ONNX Runtime), its cost bound, and an evidence
head read through the same extractor."""

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_bento import tiny_model

from components.model.evidence import (
    CUTOFF,
    MIN_LOGIT_DROP,
    Span,
    _logit,
    evidence_spans,
    explain,
    words_of,
)
from components.model.evidence_quality import evidence_agreement
from components.model.evidence_report import (
    SHOWN_CHARS,
    evidence_examples,
    examples_html,
    highlighted,
)
from components.model.modeling import ModerationModel
from components.model.normalize import normalize
from components.model.onnx_export import export_onnx

# Flagged by the softened tiny model below (threat, and scam for the last), none saturated.
TEXTS = ["I will find you and hurt you", "send the money to my account today", "what a lovely day"]
ZWSP, CYRILLIC_I = "\u200b", "\u0456"


@pytest.fixture(scope="module")
def model() -> ModerationModel:
    """The tiny model with a head 20 times gentler than the serving tests': scores between 0.2
    and 0.8, where erasing a word moves them."""
    softened = tiny_model()
    with torch.no_grad():
        softened.model.classifier.weight.mul_(0.05)
    return softened


def test_adjacent_words_past_the_cutoff_make_one_span_scored_by_its_best():
    text = "aa bb, cc dd ee"
    words = words_of(text)
    scores = np.zeros(len(text))
    for (start, end), score in zip(words, [0.6, 0.9, 0.2, 0.7, 0.0], strict=True):
        scores[start:end] = score
    assert evidence_spans(words, scores, CUTOFF) == [Span(0, 5, 0.9), Span(10, 12, 0.7)]
    assert evidence_spans(words, scores, CUTOFF, max_spans=1) == [Span(0, 5, 0.9)]
    assert evidence_spans(words, np.zeros(len(text)), CUTOFF) == []


def test_words_are_found_on_the_normalised_text_in_original_offsets():
    text = f"{ZWSP}k{CYRILLIC_I}l{ZWSP}l you"
    assert [text[s:e] for s, e in words_of(text)] == [f"k{CYRILLIC_I}l{ZWSP}l", "you"]
    assert words_of("") == [] and words_of("?!") == []


def test_each_flagged_category_gets_the_words_whose_erasure_lowers_its_score_most(model):
    scores = model.predict_scores(TEXTS)
    flagged = scores >= np.array([model.thresholds[c] for c in model.categories])
    assert flagged.any(axis=1).all() and (scores < 0.99).all()
    explained = explain(model, TEXTS, scores)
    assert [set(found) for found in explained] == [
        {name for name, on in zip(model.categories, row, strict=True) if on} for row in flagged
    ]
    spans_found = 0
    for text, row_scores, found in zip(TEXTS, scores, explained, strict=True):
        words = words_of(text)
        erased = model.predict_scores([text[:s] + text[e:] for s, e in words])
        for name, spans in found.items():
            column = model.categories.index(name)
            drops = _logit(row_scores[column]) - _logit(erased[:, column])
            if drops.max() < MIN_LOGIT_DROP:
                assert spans == [], name
                continue
            top_word = words[int(drops.argmax())]
            assert any(s.start <= top_word[0] and top_word[1] <= s.end for s in spans), name
            assert max(s.score for s in spans) == pytest.approx(1.0)
            spans_found += len(spans)
    assert spans_found >= len(TEXTS)


def test_obfuscated_evidence_is_reported_in_the_offsets_of_the_text_sent(model):
    plain = TEXTS[0]
    # Zero-width characters before and inside the words, a Cyrillic look-alike inside one.
    sent = f"{ZWSP}I w{CYRILLIC_I}ll f{ZWSP}ind you and hu{ZWSP}rt you"
    np.testing.assert_allclose(model.predict_scores([sent]), model.predict_scores([plain]))
    (want,), (got,) = explain(model, [plain]), explain(model, [sent])
    assert want.keys() == got.keys() and any(want.values())
    for name in want:
        assert [normalize(sent[s.start : s.end]) for s in got[name]] == [
            plain[s.start : s.end] for s in want[name]
        ]
        assert all(ZWSP not in (sent[s.start], sent[s.end - 1]) for s in got[name])
        assert [s.score for s in got[name]] == pytest.approx([s.score for s in want[name]])


def test_texts_and_categories_not_flagged_have_no_evidence(model):
    scores = model.predict_scores(TEXTS)
    nothing_flagged = {name: 1.0 for name in model.categories}
    assert explain(model, TEXTS, scores, thresholds=nothing_flagged) == [{}, {}, {}]
    only_scam = {**nothing_flagged, "scam": 0.0}
    assert [list(found) for found in explain(model, TEXTS, scores, only_scam)] == [["scam"]] * 3


def test_a_long_text_costs_its_pieces_and_at_most_max_words_erasures(model):
    long_text = " ".join(["and so on"] * 100 + [TEXTS[0]])  # 307 words
    scored = []

    def score_texts(texts):
        scored.append(len(texts))
        return model.predict_scores(texts)

    scores = model.predict_scores([long_text])
    only_threat = {"insult": 1.0, "threat": 0.0, "scam": 1.0}
    (found,) = explain(model, [long_text], scores, only_threat, score_texts, max_words=16)
    pieces = -(-(307 - 16) // 12) + 1  # overlapping by a quarter: a new piece every 12 words
    assert scored == [pieces, 16]
    for span in found["threat"]:
        assert long_text[span.start : span.end].strip() == long_text[span.start : span.end]


class HeadModel:
    """The tiny model as if it had an evidence head that marks every "you"."""

    def __init__(self, model):
        self.categories, self.thresholds = model.categories, model.thresholds
        self.predict_scores = model.predict_scores
        self.has_evidence_head = True

    def evidence_scores(self, texts, batch_size=64):
        matrices = []
        for text in texts:
            matrix = np.zeros((len(text), len(self.categories)), dtype=np.float32)
            for start, end in words_of(text):
                matrix[start:end] = 0.9 if text[start:end] == "you" else 0.1
            matrices.append(matrix)
        return matrices


def test_an_evidence_head_is_read_through_the_same_span_extractor(model):
    scores = model.predict_scores(TEXTS[:1])
    (found,) = explain(HeadModel(model), TEXTS[:1], scores)
    assert found and all(
        [TEXTS[0][s.start : s.end] for s in spans] == ["you", "you"] for spans in found.values()
    )


@pytest.mark.slow
def test_occlusion_is_measured_against_the_annotators_spans_as_the_service_answers(model):
    scores = model.predict_scores(TEXTS)
    answered = explain(model, TEXTS[:1], scores[:1])[0].values()
    gold = [{"start": s.start, "end": s.end, "type": "violence"} for v in answered for s in v]
    assert gold
    rationales = [{"evidence": gold}, {"evidence": gold}, None]
    test = pd.DataFrame({"text": TEXTS, "rationale": rationales})
    scores[1] = 0.0  # not flagged: the service answers no evidence, and the row scores 0
    agreement = evidence_agreement(model, test, scores)
    assert agreement == {"f1": 0.5, "rows": 2, "method": "occlusion"}


def test_occlusion_explains_on_onnx_runtime_as_on_torch(model, tmp_path):
    folder = model.save(tmp_path / "model")
    export_onnx(model, folder)
    onnx_model = ModerationModel.load(folder, backend="onnx", threads=1)
    on_torch, on_onnx = explain(model, TEXTS), explain(onnx_model, TEXTS)
    for want, got in zip(on_torch, on_onnx, strict=True):
        assert want.keys() == got.keys()
        for name in want:
            assert [(s.start, s.end) for s in got[name]] == [(s.start, s.end) for s in want[name]]
            assert [s.score for s in got[name]] == pytest.approx(
                [s.score for s in want[name]], abs=1e-3
            )


def test_highlighting_escapes_the_text_and_titles_overlapping_spans():
    text = "a <b> & c"
    page = highlighted(text, [(0, 5, "insult 0.90"), (2, 9, 'gold: "x"')])
    assert page == (
        '<mark title="insult 0.90">a </mark>'
        '<mark title="insult 0.90; gold: &quot;x&quot;">&lt;b&gt;</mark>'
        '<mark title="gold: &quot;x&quot;"> &amp; c</mark>'
    )


def test_the_report_shows_flagged_texts_gold_first_cut_around_their_evidence(model):
    long_text = "and so on " * 60 + TEXTS[0]
    texts = [TEXTS[1], long_text, TEXTS[2], "pay me now or else"]
    rationale = {
        "evidence": [{"start": len(long_text) - 3, "end": len(long_text), "type": "other"}]
    }
    test = pd.DataFrame(
        {"id": ["r0", "r1", "r2", "r3"], "text": texts, "rationale": [None, rationale, None, None]}
    )
    scores = model.predict_scores(texts)
    scores[3] = 0.0  # not flagged
    examples = evidence_examples(model, test, scores, model.thresholds, count=2)
    best_without_gold = max((0, 2), key=lambda row: scores[row].max())
    assert [example["id"] for example in examples] == ["r1", f"r{best_without_gold}"]
    assert examples[0]["gold"] == [(len(long_text) - 3, len(long_text), "other")]
    section = examples_html(examples)
    assert section.count("<tr>") == 3  # the header and two examples
    assert '<mark title="gold: other">you</mark>…' not in section  # the text's end is shown
    assert '<mark title="gold: other">you</mark></td>' in section
    row = section.split("<tr>")[2]
    assert row.count("…") == 2  # the long text, cut before its gold evidence, in both columns
    assert len(row) < 3 * SHOWN_CHARS + 1000
