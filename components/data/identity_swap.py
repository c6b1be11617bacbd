"""Counterfactual identity copies: training rows that name an identity group, copied with the
group swapped for another of its kind and the labels kept (counterfactual data augmentation, Lu
et al. 2018; for abusive language, Park et al. 2018 swapped genders).

Scraped abuse names a few groups far more often than others, and mostly in abuse, so a model
learns the group's name as a sign of hate: "I am a proud queer woman" scores as abuse. A copy
that names another group under the same labels teaches that the sentence decides, not the group.

The terms are ours, grouped by kind so a swap keeps the sentence's sense and grammar (a plural
for a plural). Words that mostly mean something else ("straight", "old") are left out; the
colours stay, as "black" and "white" are among the groups scraped abuse names most. A copy keeps
its row's labels, annotator shares and agreement; its evidence spans are dropped, as the swap
moves their offsets.

Swaps among groups cannot teach that naming a group is not itself a sign of hate, as every group
reads alike; a neutral copy names none ("He is white." -> "He is local."), for training to pair a
benign text's scores with (components.model.training, counterfactual logit pairing).
"""

from __future__ import annotations

import random
import re

import pandas as pd

from components.data.canonical import BASE_COLUMNS, label_column

# fmt: off
# Each kind of group: (singular or adjective, plural), swapped for the same form of another.
GROUPS: tuple[tuple[tuple[str, str], ...], ...] = (
    (  # religion
        ("muslim", "muslims"), ("christian", "christians"), ("jewish", "jews"),
        ("hindu", "hindus"), ("sikh", "sikhs"), ("buddhist", "buddhists"),
        ("catholic", "catholics"), ("atheist", "atheists"),
    ),
    (  # race and ethnicity
        ("black", "blacks"), ("white", "whites"), ("asian", "asians"), ("latino", "latinos"),
        ("hispanic", "hispanics"), ("arab", "arabs"), ("african", "africans"),
        ("mexican", "mexicans"),
    ),
    (  # sexual orientation and gender identity
        ("gay", "gays"), ("lesbian", "lesbians"), ("bisexual", "bisexuals"),
        ("queer", "queers"), ("homosexual", "homosexuals"), ("heterosexual", "heterosexuals"),
        ("transgender", "transgenders"),
    ),
    (  # gender
        ("female", "women"), ("male", "men"),
    ),
)
# fmt: on
SOURCE = "augment:identity_swap"
# A word in each form that names no group and reads as adjective and noun ("a local", "locals").
NEUTRAL = ("local", "locals")
# Each word's place: (kind, form), to draw its swap from.
PLACES = {
    word: (kind, form)
    for kind, terms in enumerate(GROUPS)
    for term in terms
    for form, word in enumerate(term)
}
TERM = re.compile(r"\b(?:" + "|".join(sorted(PLACES, key=len, reverse=True)) + r")\b", re.I)


def _swap_for(word: str, rng: random.Random) -> str:
    kind, form = PLACES[word]
    return rng.choice([term[form] for term in GROUPS[kind] if term[form] != word])


def _cased_like(original: str, word: str) -> str:
    if original.isupper():
        return word.upper()
    return word.capitalize() if original[:1].isupper() else word


def swap_identities(text: str, rng: random.Random) -> str:
    """``text`` with each identity term it names swapped for another of the same kind and form
    (every mention of one term for the same other term), in its casing."""
    swaps: dict[str, str] = {}
    for word in TERM.findall(text):
        swaps.setdefault(word.lower(), _swap_for(word.lower(), rng))
    return TERM.sub(lambda m: _cased_like(m.group(0), swaps[m.group(0).lower()]), text)


def neutralise_identities(text: str) -> str | None:
    """``text`` with each identity term it names replaced by a neutral word of the same form, in
    its casing; None where it names none."""
    neutral, named = TERM.subn(
        lambda m: _cased_like(m.group(0), NEUTRAL[PLACES[m.group(0).lower()][1]]), text
    )
    return neutral if named else None


def identity_swapped_copies(
    train: pd.DataFrame, categories: list[str], copies: int, rng: random.Random
) -> pd.DataFrame:
    """``copies`` copies of each training row that names an identity term, each with its terms
    swapped afresh: the canonical columns, with the labels and annotator shares kept."""
    texts = train["text"].where(train["text"].map(lambda t: isinstance(t, str)), "")
    naming = train[texts.str.contains(TERM)]
    labels = [label_column(c) for c in categories if label_column(c) in naming.columns]
    rows = naming.reindex(columns=[*BASE_COLUMNS, "soft_labels", *labels])
    rows = rows.iloc[list(range(len(rows))) * copies].reset_index(drop=True)
    rows["text"] = [swap_identities(text, rng) for text in rows["text"]]
    rows["id"] = [f"augment-identity_swap-{number}" for number in range(len(rows))]
    rows["source"] = SOURCE
    rows["rationale"] = None
    rows["split"] = "train"
    return rows
