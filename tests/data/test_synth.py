"""The synthetic demo corpus: deterministic to the byte, big enough, and as messy as real data."""

import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from components.data.canonical import (
    CARD_FILE,
    ROWS_FILE,
    label_column,
    load_taxonomy,
    near_duplicate_key,
    read_dataset,
)
from components.data.synth import (
    KINDS,
    _add_label_noise,
    synthesize_corpus,
    write_synthetic_dataset,
)
from components.errors import ModpipeError

REPO_ROOT = Path(__file__).resolve().parents[2]
# One regex per disguise the generator uses; plain English text matches none of them.
OBFUSCATIONS = {
    "letter spacing": r"\b(?:[a-z] ){3,}[a-z]\b",
    "dotted letters": r"\b(?:[a-z]\.){3,}[a-z]\b",
    "repeated letters": r"(?:a{3,}|e{3,}|i{3,}|o{3,}|u{3,})",
    "masked letter": r"[a-z]\*[a-z]",
    "leetspeak": r"[a-z][013457][a-z]",
}
HARD_NEGATIVES = (
    "killed it",
    "dying of laughter",
    "destroyed them",
    "kill the final boss",
    "hate has no place here",
    "court hears the defendant called the victim",
    "talk to someone. you matter",
    "safe sex",
    "phishing",
    "i'm such an idiot",
)


@pytest.fixture(scope="module")
def corpus():
    return synthesize_corpus()


def _labels(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[label_column(name) for name in load_taxonomy().names]]


def _safe(frame: pd.DataFrame) -> pd.Series:
    """Rows known to be safe: every label 0 (an unknown label does not count as 0)."""
    return _labels(frame).fillna(1).eq(0).all(axis=1)


def _files(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in (CARD_FILE, ROWS_FILE)}


def test_same_seed_gives_the_same_corpus_and_another_seed_another(corpus):
    card, frame = corpus
    again_card, again_frame = synthesize_corpus()
    assert again_card == card
    pd.testing.assert_frame_equal(again_frame, frame)
    assert synthesize_corpus(seed=14)[1]["text"].tolist() != frame["text"].tolist()


def test_written_bytes_do_not_depend_on_the_process_or_its_hash_seed(tmp_path):
    write_synthetic_dataset(tmp_path / "here")
    write_synthetic_dataset(tmp_path / "again")
    script = (
        "import sys; from components.data.synth import write_synthetic_dataset as w; w(sys.argv[1])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "elsewhere")],
        cwd=REPO_ROOT,
        env=env,
        check=True,
    )
    assert _files(tmp_path / "again") == _files(tmp_path / "here")
    assert _files(tmp_path / "elsewhere") == _files(tmp_path / "here")


def test_card_and_rows_say_they_are_synthetic(corpus):
    card, frame = corpus
    assert (card.name, card.source, card.synthetic) == ("synthetic-demo", "synthetic", True)
    assert "synthetic" in card.description.lower()
    assert card.names == load_taxonomy().names
    assert frame["source"].eq("synthetic").all()


def test_rows_positives_and_safe_share_are_big_enough(corpus):
    _, frame = corpus
    assert len(frame) == 3600
    positives = _labels(frame).eq(1).sum()
    assert positives.min() >= 200, positives.to_dict()
    assert _safe(frame).mean() >= 0.30


@pytest.mark.parametrize(
    "first, second",
    [("hate", "violence"), ("harassment", "violence"), ("sexual", "spam"), ("hate", "harassment")],
)
def test_multi_label_rows_exist(corpus, first, second):
    _, frame = corpus
    both = frame[label_column(first)].eq(1) & frame[label_column(second)].eq(1)
    assert both.sum() >= 50


def test_hard_negatives_are_there_and_labelled_safe(corpus):
    _, frame = corpus
    texts = frame["text"].str.lower()
    matches = {phrase: texts.str.contains(phrase, regex=False) for phrase in HARD_NEGATIVES}
    counts = {phrase: int(match.sum()) for phrase, match in matches.items()}
    assert min(counts.values()) >= 3, counts
    hard = pd.concat(matches, axis=1).any(axis=1)
    assert _safe(frame)[hard].mean() >= 0.9  # all but the odd flipped or unknown label


@pytest.mark.parametrize("pattern", OBFUSCATIONS.values(), ids=OBFUSCATIONS.keys())
def test_some_positives_are_obfuscated(corpus, pattern):
    _, frame = corpus
    disguised = frame["text"].str.contains(pattern, case=False, regex=True)
    positive = _labels(frame).eq(1).any(axis=1)
    assert (disguised & positive).sum() >= 20
    assert (disguised & _safe(frame)).sum() <= 5  # only where label noise flipped a positive


def test_unknown_labels_are_a_few_and_survive_writing(corpus, tmp_path):
    card, frame = corpus
    unknown = _labels(frame).isna()
    assert 0.01 <= unknown.any(axis=1).mean() <= 0.03
    assert unknown.any().all()  # every category has some, so masking is exercised everywhere
    _, read_back = read_dataset(write_synthetic_dataset(tmp_path / "demo"))
    assert (_labels(read_back).dtypes == "Int8").all()
    pd.testing.assert_frame_equal(_labels(read_back), _labels(frame))


def test_label_noise_flips_one_label_on_two_percent_and_hides_one_on_two_percent():
    categories = load_taxonomy().names
    records = [{"labels": dict.fromkeys(categories, 0), "agreement": 1.0} for _ in range(1000)]
    _add_label_noise(records, categories, random.Random(0))
    values = [list(record["labels"].values()) for record in records]
    flipped = [record for record, row in zip(records, values, strict=True) if 1 in row]
    assert len(flipped) == 20 and all(record["agreement"] == 0.6 for record in flipped)
    assert sum(None in row for row in values) == 20
    assert max(row.count(1) + row.count(None) for row in values) == 1


def test_agreement_is_lower_on_hard_negatives_and_some_rows_explain_themselves(corpus):
    _, frame = corpus
    assert frame["agreement"].between(0, 1).all()
    hard = frame["rationale"].isin([kind.rationale for kind in KINDS if kind.hard])
    plain = frame["rationale"].isna()
    assert frame["agreement"][hard].mean() < frame["agreement"][plain].mean() - 0.05
    assert 0.1 <= frame["rationale"].notna().mean() <= 0.5


def test_ids_and_texts_are_unique_and_short(corpus):
    _, frame = corpus
    assert frame["id"].is_unique and frame["id"].str.fullmatch(r"synth-\d{5}").all()
    assert frame["text"].is_unique
    assert frame["text"].str.len().between(10, 199).all()


def test_near_duplicates_stay_under_three_percent(corpus):

    _, frame = corpus
    keys = near_duplicate_key(frame["text"])
    assert (keys.duplicated() & keys.notna()).mean() < 0.03


def test_the_corpus_passes_dataset_validation(corpus, tmp_path):
    from components.data.validate import validate_frame

    card, frame = corpus
    report = validate_frame(card, frame, tmp_path)
    assert report.success, report.summary()


@pytest.mark.parametrize("rows", [10, 1_000_000])
def test_row_counts_out_of_range_are_refused(rows):
    with pytest.raises(ModpipeError, match="rows must be between"):
        synthesize_corpus(rows=rows)
