"""The split stage: deterministic, stratified, near-duplicates on one side, test labels kept."""

import pandas as pd
import pytest

from components.data.canonical import near_duplicate_key
from components.data.split import permute_training_labels, split_dataset
from components.data.synth import synthesize_corpus
from components.errors import ModpipeError


@pytest.fixture(scope="module")
def corpus():
    return synthesize_corpus(rows=1200)[1]


def test_split_is_deterministic_and_sized(corpus):
    first = split_dataset(corpus, 0.1, 0.2, seed=7)
    again = split_dataset(corpus, 0.1, 0.2, seed=7)
    assert first["split"].tolist() == again["split"].tolist()
    shares = first["split"].value_counts(normalize=True)
    assert shares["test"] == pytest.approx(0.2, abs=0.03)
    assert shares["validation"] == pytest.approx(0.1, abs=0.03)
    assert split_dataset(corpus, 0.1, 0.2, seed=8)["split"].tolist() != first["split"].tolist()


def test_every_category_is_stratified_into_every_split(corpus):
    split = split_dataset(corpus, 0.1, 0.2, seed=7)
    for column in [c for c in corpus if c.startswith("label_")]:
        overall = corpus[column].eq(1).mean()
        for name, part in split.groupby("split"):
            assert part[column].eq(1).mean() == pytest.approx(overall, abs=0.04), (column, name)


def test_near_duplicates_stay_on_one_side(corpus):
    copies = corpus.head(40).assign(
        id=lambda f: f["id"] + "-copy", text=lambda f: "RT @someone " + f["text"].str.upper() + "!!"
    )
    frame = pd.concat([corpus, copies], ignore_index=True)
    split = split_dataset(frame, 0.1, 0.2, seed=7)
    keys = near_duplicate_key(split["text"].astype("string"))
    assert split.groupby(keys)["split"].nunique().max() == 1


def test_an_existing_split_is_kept(corpus):
    given = corpus.assign(split=["test" if i % 5 == 0 else "train" for i in range(len(corpus))])
    given.loc[given.index[1], "split"] = "validation"
    assert split_dataset(given, 0.1, 0.2, seed=7)["split"].tolist() == given["split"].tolist()


def test_too_few_rows_is_a_clear_error(corpus):
    with pytest.raises(ModpipeError, match="too few to split"):
        split_dataset(corpus.head(6), 0.1, 0.2, seed=7)


def test_permuted_labels_leave_test_untouched(corpus):
    split = split_dataset(corpus, 0.1, 0.2, seed=7)
    permuted = permute_training_labels(split, seed=7)
    labels = [c for c in split if c.startswith("label_")]
    test = split["split"] == "test"
    pd.testing.assert_frame_equal(permuted.loc[test, labels], split.loc[test, labels])
    assert not permuted.loc[~test, labels].equals(split.loc[~test, labels])
    assert permuted[labels].sum().tolist() == split[labels].sum().tolist()  # same prevalence
