"""Counterfactual identity copies: a group is swapped for another of its kind and form, in its
casing, whole words only; each row naming a group is copied as configured, labels and annotator
shares kept, evidence dropped; only the training split is read. A neutral copy names no group."""

import random

import pandas as pd

from components.config import AugmentConfig
from components.data.augment import augment_training, augmentation_counts
from components.data.canonical import frame_from_records
from components.data.identity_swap import (
    GROUPS,
    PLACES,
    TERM,
    neutralise_identities,
    swap_identities,
)

CATEGORIES = ["hate", "offensive", "spam"]
RELIGIONS = {word for term in GROUPS[0] for word in term}
PLURALS = {term[1] for group in GROUPS for term in group}


def rows(texts: list[str], split: str = "train") -> pd.DataFrame:
    records = [
        {
            "id": f"r{i}",
            "text": text,
            "source": "davidson",
            "labels": {"hate": i % 2, "offensive": 1, "spam": None},
            "soft_labels": {"hate": 0.6667, "offensive": 1.0},
            "agreement": 0.6667,
            "rationale": {"spans": [[0, 4, "hate"]]},
            "split": split,
        }
        for i, text in enumerate(texts)
    ]
    return frame_from_records(records)


def test_a_group_is_swapped_for_another_of_its_kind_and_form():
    rng = random.Random(0)
    for _ in range(50):
        swapped = swap_identities("those muslims and that christian", rng)
        plural, singular = swapped.split()[1], swapped.split()[4]
        assert plural in RELIGIONS and plural in PLURALS and plural != "muslims"
        assert singular in RELIGIONS and singular not in PLURALS and singular != "christian"


def test_every_mention_of_a_term_takes_the_same_swap_in_its_casing():
    rng = random.Random(3)
    for _ in range(20):
        swapped = swap_identities("Gay pride. GAY rights. gay bar.", rng)
        first, second, third = (TERM.search(part).group(0) for part in swapped.split(". "))
        assert first.lower() == second.lower() == third.lower() != "gay"
        assert first[0].isupper() and first[1:].islower()
        assert second.isupper() and third.islower()


def test_a_neutral_copy_names_no_group_in_the_same_form_and_casing():
    assert neutralise_identities("He is white.") == "He is local."
    assert neutralise_identities("Gay people and MUSLIMS, women too") == (
        "Local people and LOCALS, locals too"
    )
    text = "Lucas is a friendly homosexual and his sister is jewish"
    assert not TERM.search(neutralise_identities(text))
    assert neutralise_identities("nobody named here") is None


def test_only_whole_words_are_swapped():
    text = "A blackboard, whitening, menus, mention, Trans-Am and a straight line."
    assert not TERM.search(text)
    assert swap_identities(text, random.Random(0)) == text


def test_each_term_has_somewhere_to_go():
    for word, (group, form) in PLACES.items():
        assert len({term[form] for term in GROUPS[group]} - {word}) >= 1, word


def test_each_row_naming_a_group_is_copied_as_configured_with_its_labels():
    train = rows(["white trash everywhere", "no group named here", "Muslims are my neighbours"])
    added = augment_training(train, CATEGORIES, AugmentConfig(identity_swaps=3))
    copies = added[added["source"] == "augment:identity_swap"]
    assert augmentation_counts(added)["identity_swap"] == 6
    assert copies["id"].is_unique
    assert set(copies["split"]) == {"train"}
    assert copies["rationale"].isna().all()  # the swap moves the evidence's offsets
    naming = train.iloc[[0, 2]].reset_index(drop=True)
    for _, copy in copies.iterrows():
        original = naming.iloc[0 if "trash" in copy["text"] else 1]
        assert copy["text"] != original["text"]
        assert TERM.sub("", copy["text"]) == TERM.sub("", original["text"])
        for column in ("label_hate", "label_offensive", "soft_labels", "agreement"):
            assert copy[column] == original[column], column
        assert pd.isna(copy["label_spam"])


def test_only_the_training_split_is_read_and_none_is_the_default():
    frame = pd.concat([rows(["gay men", "black cats"]), rows(["jews", "asians"], "test")])
    assert augment_training(frame, CATEGORIES, AugmentConfig()).empty
    added = augment_training(frame, CATEGORIES, AugmentConfig(identity_swaps=2, seed=5))
    unswapped = sorted(TERM.sub("", text) for text in added["text"])
    assert unswapped == [" ", " ", " cats", " cats"]  # "gay men" and "black cats" twice each
    again = augment_training(frame, CATEGORIES, AugmentConfig(identity_swaps=2, seed=5))
    assert added.equals(again)
