"""Training augmentation and obfuscation: sized as configured, training split only, labels as
specified, deterministic; and the behavioural suite shares no sentence with training data, be it
augmentation rows or the seed corpus."""

import itertools
import random
import re
import unicodedata

import pandas as pd
import pytest

from components.config import AugmentConfig
from components.data import augment, augment_templates, synth
from components.data.augment import augment_training, augmentation_counts
from components.data.canonical import frame_from_records, text_key
from components.data.identity_swap import GROUPS
from components.data.obfuscate import STYLES, ZERO_WIDTH, obfuscate
from components.errors import ModpipeError
from components.model import behaviour, behaviour_templates

CATEGORIES = ["hate", "harassment", "violence", "sexual", "spam", "medical"]
ALL_TEMPLATED = list(behaviour_templates.KEY_SLOTS)
SYLLABLES = ("ka", "lo", "mi", "ne", "su", "ta", "ri", "po")
LABEL_PATTERNS = (  # hate, harassment, violence, sexual, spam, medical
    (1, 0, 0, 0, 0, None),
    (0, 1, 1, 0, 0, 0),
    (None, 0, 1, 0, 0, None),
    (0, 0, 0, 0, 1, 1),
    (0, 0, 0, 0, 0, 0),  # a negative: never copied
)


def unique_words():
    for parts in itertools.product(SYLLABLES, repeat=3):
        yield "".join(parts)


def training_frame(rows: int = 60, split_of=lambda i: "train") -> pd.DataFrame:
    """Rows of five unique invented words each (so an obfuscated copy still shows which row it
    came from), cycling through LABEL_PATTERNS."""
    words = unique_words()
    records = []
    for i in range(rows):
        pattern = LABEL_PATTERNS[i % len(LABEL_PATTERNS)]
        records.append(
            {
                "id": f"r{i}",
                "text": " ".join(next(words) for _ in range(5)),
                "source": "test",
                "labels": dict(zip(CATEGORIES, pattern, strict=True)),
                "split": split_of(i),
            }
        )
    return frame_from_records(records)


def source_row(train: pd.DataFrame, text: str) -> pd.Series:
    """The training row sharing most words with an obfuscated copy."""
    words = set(re.findall(r"[a-z]+", text))
    overlap = train["text"].map(lambda t: len(words & set(t.split())))
    return train.loc[overlap.idxmax()]


def test_nothing_is_added_when_everything_is_off():
    rows = augment_training(training_frame(), CATEGORIES, AugmentConfig())
    assert rows.empty
    assert list(rows.columns) == [
        "id", "text", "source", "agreement", "rationale",
        *(f"label_{c}" for c in CATEGORIES), "split",
    ]  # fmt: skip
    assert augmentation_counts(rows) == dict.fromkeys(augment.KINDS, 0)


def test_each_kind_gets_its_configured_rows():
    train = training_frame(60)
    config = AugmentConfig(
        counter_speech=7, quoting=5, identity_positive=6, negation=8, safety_talk=9,
        obfuscated_share=0.25, in_context_share=0.5,
    )  # fmt: skip
    rows = augment_training(train, CATEGORIES, config)
    positives = 48  # four of the five label patterns have a positive
    expected = {
        "counter_speech": 7, "quoting": 5, "identity_positive": 6, "negation": 8,
        "safety_talk": 9, "obfuscated": 12,
        "in_context": 0,  # no text long enough to lend context
        "identity_swap": 0,  # no text names a group (tests/code/test_identity_swap.py)
    }  # fmt: skip
    assert round(0.25 * positives) == expected["obfuscated"]
    assert augmentation_counts(rows) == expected
    assert set(rows["source"]) == {f"augment:{kind}" for kind, count in expected.items() if count}
    assert rows["id"].is_unique
    assert rows["id"].str.fullmatch(r"augment-[a-z_]+-\d+").all()
    assert set(rows["split"]) == {"train"}
    assert all(str(rows[f"label_{c}"].dtype) == "Int64" for c in CATEGORIES)


@pytest.mark.parametrize("kind", ["negation", "safety_talk"])
def test_a_new_templated_kind_alone_gets_its_rows(kind):
    rows = augment_training(training_frame(), CATEGORIES, AugmentConfig(**{kind: 25}))
    assert augmentation_counts(rows) == {**dict.fromkeys(augment.KINDS, 0), kind: 25}
    assert set(rows["source"]) == {f"augment:{kind}"}
    assert rows["text"].is_unique
    assert not rows["text"].str.contains(r"[{}]").any()  # every slot filled


def test_only_the_training_split_is_read():
    splits = ("train", "validation", "test")
    frame = training_frame(90, split_of=lambda i: splits[(i // 5) % 3])
    held_out = set(frame.loc[frame["split"] != "train", "text"])
    rows = augment_training(frame, CATEGORIES, AugmentConfig(obfuscated_share=1.0, quoting=40))
    train = frame[frame["split"] == "train"]
    positives = train[[f"label_{c}" for c in CATEGORIES]].eq(1).any(axis=1).sum()
    assert augmentation_counts(rows)["obfuscated"] == positives
    for text in rows.loc[rows["source"] == "augment:obfuscated", "text"]:
        assert source_row(frame, text)["split"] == "train"
    quoted = rows.loc[rows["source"] == "augment:quoting", "text"]
    assert not any(held in text for held in held_out for text in quoted)
    assert set(rows["split"]) == {"train"}


def test_templated_rows_get_the_specified_labels():
    config = AugmentConfig(
        counter_speech=10, quoting=10, identity_positive=10, negation=10, safety_talk=10
    )
    rows = augment_training(training_frame(), CATEGORIES, config).set_index("source")
    known = ["label_hate", "label_harassment", "label_violence", "label_sexual", "label_spam"]
    for kind in ("counter_speech", "identity_positive", "negation", "safety_talk"):
        part = rows.loc[f"augment:{kind}"]
        assert part[known].eq(0).all().all(), kind
        assert part["label_medical"].isna().all(), kind  # a custom category stays unknown
    quoting = rows.loc["augment:quoting"]
    assert quoting[["label_hate", "label_harassment", "label_violence"]].eq(0).all().all()
    assert quoting[["label_sexual", "label_spam", "label_medical"]].isna().all().all()


def test_identity_positive_rows_name_single_people_by_every_group_term():
    rows = augment_training(training_frame(), CATEGORIES, AugmentConfig(identity_positive=2000))
    texts = " ".join(rows["text"]).lower()
    singulars = {singular for kind in GROUPS for singular, _ in kind}
    assert {term for term in singulars if re.search(rf"\b{term} [a-z]+(,| who| and)", texts)} == (
        singulars
    )


def test_quoting_rows_quote_short_training_positives():
    train = training_frame(30)
    long_positive = {"id": "long", "text": "word " * 40, "source": "test", "labels": {"hate": 1}}
    train = pd.concat([train, frame_from_records([long_positive])], ignore_index=True)
    rows = augment_training(train, CATEGORIES, AugmentConfig(quoting=60))
    quoted = rows.loc[rows["source"] == "augment:quoting", "text"]
    abusive = train.loc[
        train[["label_hate", "label_harassment", "label_violence"]].eq(1).any(axis=1)
    ]
    short = [t for t in abusive["text"] if len(t) <= 120]
    assert any(f'"{t}"' in text for t in short for text in quoted)
    assert not any("word word" in text for text in quoted)
    spam_only = train.loc[train["label_spam"].eq(1) & train["label_hate"].ne(1), "text"]
    assert not any(t in text for t in spam_only for text in quoted)


def test_obfuscated_copies_keep_their_labels_and_change_their_text():
    train = training_frame(60)
    rows = augment_training(train, CATEGORIES, AugmentConfig(obfuscated_share=0.5, seed=4))
    copies = rows[rows["source"] == "augment:obfuscated"]
    assert len(copies) == 24
    labels = [f"label_{c}" for c in CATEGORIES]
    for _, copy in copies.iterrows():
        original = source_row(train, copy["text"])
        assert copy["text"] != original["text"]
        assert copy[labels].astype(object).fillna(-1).tolist() == (
            original[labels].astype(object).fillna(-1).tolist()
        )
        assert (original[labels] == 1).any()


def test_in_context_copies_put_short_positives_after_the_start_of_benign_text():
    train = training_frame(60)
    benign = train["label_spam"].eq(0) & train["label_hate"].eq(0) & train["label_violence"].eq(0)
    train.loc[benign, "text"] = train.loc[benign, "text"] + " and so on" * 30
    train.loc[benign, "label_medical"] = pd.NA  # a context's unknown makes the copy's unknown
    train.loc[0, "text"] = ""  # a positive image row's empty text: never copied
    assert augment_training(train, CATEGORIES, AugmentConfig()).empty
    rows = augment_training(train, CATEGORIES, AugmentConfig(in_context_share=0.5, seed=4))
    copies = rows[rows["source"] == "augment:in_context"]
    assert len(copies) == 24  # half the 47 positives with text
    assert not copies["text"].str.endswith(" ").any()
    labels = [f"label_{c}" for c in CATEGORIES]
    starts = train.loc[benign, "text"].tolist()
    for _, copy in copies.iterrows():
        original = train[train["text"].map(lambda t, c=copy["text"]: c.endswith(" " + t))]
        context = copy["text"][: -len(original["text"].iloc[0]) - 1]
        assert 40 <= len(context) <= 200 and any(t.startswith(context + " ") for t in starts)
        expected = original[labels].iloc[0].astype(object).fillna(-1).tolist()
        expected[-1] = -1 if expected[-1] != 1 else 1  # medical: unknown unless positive
        assert copy[labels].astype(object).fillna(-1).tolist() == expected


def test_augmentation_is_deterministic():
    train = training_frame(60)
    config = AugmentConfig(
        counter_speech=20, quoting=20, identity_positive=20, negation=20, safety_talk=20,
        obfuscated_share=0.5, in_context_share=0.5,
    )  # fmt: skip
    first = augment_training(train, CATEGORIES, config)
    assert first.equals(augment_training(train, CATEGORIES, config))
    other = augment_training(train, CATEGORIES, config.model_copy(update={"seed": 99}))
    assert not first["text"].equals(other["text"])
    for kind in ("negation", "safety_talk"):
        texts = first.loc[first["source"] == f"augment:{kind}", "text"].tolist()
        assert texts != other.loc[other["source"] == f"augment:{kind}", "text"].tolist(), kind
        # a kind's rows do not depend on the other kinds' counts
        alone = augment_training(train, CATEGORIES, AugmentConfig(**{kind: 20}))
        assert alone["text"].tolist() == texts, kind


def test_counts_beyond_the_distinct_sentences_repeat_them():
    rows = augment_training(training_frame(), CATEGORIES, AugmentConfig(identity_positive=3000))
    assert len(rows) == 3000
    assert rows["text"].nunique() > 500
    rows = augment_training(training_frame(), CATEGORIES, AugmentConfig(negation=1000))
    assert rows["text"].nunique() == 1000
    rows = augment_training(training_frame(), CATEGORIES, AugmentConfig(safety_talk=1000))
    assert len(rows) == 1000 and rows["text"].nunique() > 250


def frame_ngrams(templates, n: int = 4) -> set[tuple[str, ...]]:
    """Word n-grams of the templates' fixed text (their slots cut out)."""
    grams = set()
    for template in templates:
        for chunk in re.split(r"\{\w+\}", template):
            words = re.findall(r"[a-z]+(?:'[a-z]+)?", chunk.lower())
            grams |= {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}
    return grams


def test_augmentation_never_uses_a_sentence_of_the_behaviour_suite():
    suite = behaviour.build_suite(ALL_TEMPLATED + ["medical"], seed=0)
    suite_texts = {t for case in suite for t in (case.text, case.variant) if t is not None}
    train = training_frame(60)
    config = AugmentConfig(
        counter_speech=400, quoting=400, identity_positive=400, negation=400, safety_talk=400
    )
    rows = augment_training(train, ALL_TEMPLATED, config)
    counts = augmentation_counts(rows)
    assert all(counts[kind] == 400 for kind in augment.TEMPLATED_KINDS), counts
    assert not {text_key(t) for t in rows["text"]} & {text_key(t) for t in suite_texts}
    augment_frames = [t for bank in augment_templates.TEMPLATES.values() for t in bank]
    suite_frames = [t for bank in behaviour_templates.TEMPLATES.values() for t in bank]
    assert set(augment_templates.TEMPLATES) >= set(augment.TEMPLATED_KINDS)  # every kind is checked
    assert not set(augment_frames) & set(suite_frames)
    assert not frame_ngrams(augment_frames) & frame_ngrams(suite_frames)
    assert not set(augment_templates.SLOTS["name"]) & set(behaviour_templates.SLOTS["name"])


def test_augmentation_shares_no_sentence_frame_with_the_seed_corpus():
    augment_frames = [t for bank in augment_templates.TEMPLATES.values() for t in bank]
    seed_frames = [t for kind in synth.KINDS for t in kind.templates]
    assert not set(augment_frames) & set(seed_frames)
    assert not frame_ngrams(augment_frames) & frame_ngrams(seed_frames)


def test_the_suite_shares_no_sentence_with_the_seed_corpus():
    suite_frames = [t for bank in behaviour_templates.TEMPLATES.values() for t in bank]
    seed_frames = [t for kind in synth.KINDS for t in kind.templates]
    assert not frame_ngrams(suite_frames) & frame_ngrams(seed_frames)
    assert not set(behaviour_templates.SLOTS["name"]) & set(synth.SLOTS["name"])
    suite = behaviour.build_suite(ALL_TEMPLATED, seed=0)
    suite_keys = {text_key(t) for case in suite for t in (case.text, case.variant) if t}
    corpus = synth.synthesize_corpus(rows=2000)[1]
    assert not suite_keys & set(corpus["text"].map(text_key))


@pytest.mark.parametrize("style", STYLES)
def test_every_style_changes_a_word_and_only_the_chosen_words(style):
    text = "please do not kill the messenger"
    changed = obfuscate(text, style, random.Random(1), words=["kill"])
    assert changed != text
    assert changed.startswith("please do not ") and changed.endswith(" the messenger")
    assert obfuscate(text, style, random.Random(1), ["kill"]) == changed
    longest = obfuscate(text, style, random.Random(1))  # by default, the longest word
    assert longest != text and longest.startswith("please do not kill the ")


def test_styles_do_what_they_say():
    rng = random.Random(0)
    assert obfuscate("kill", "spacing", rng) == "k i l l"
    assert re.fullmatch(r"[k1!l]{4}", obfuscate("kill", "leetspeak", rng))
    assert re.fullmatch(r"k[.\-_*]i[.\-_*]l[.\-_*]l|k\*ll", obfuscate("kill", "separators", rng))
    for _ in range(10):
        typo = obfuscate("hate", "character swap", rng)
        assert typo != "hate"
        assert sorted(typo) == sorted("hate") or (len(typo) == 5 and set(typo) == set("hate"))
    hidden = obfuscate("scam", "zero-width", rng)
    assert hidden != "scam" and "".join(c for c in hidden if c not in ZERO_WIDTH) == "scam"
    for _ in range(20):
        glyphs = obfuscate("parasites", "homoglyphs", rng)
        foreign = [c for c in glyphs if not c.isascii()]
        assert foreign and len(foreign) < len("parasites")
        assert all(unicodedata.name(c).split()[0] in ("CYRILLIC", "GREEK") for c in foreign)


def test_an_unknown_style_is_refused():
    with pytest.raises(ModpipeError, match="unknown obfuscation style"):
        obfuscate("kill", "rot13", random.Random(0))
