"""Training augmentation: hard negatives and obfuscated positives, for the training split only.

A model trained on scraped abuse learns shortcuts: a group's name, a quoted slur or a violent
word reads as abuse whatever the sentence says, and "k1ll" reads as nothing. Eight kinds of rows,
each tagged with the source ``augment:KIND`` and added to the training split, never to
validation or test:

- ``counter_speech``: templated condemnation of abuse; no abuse label;
- ``quoting``: abuse quoted in order to report or condemn it, short positives of the training
  split and templated quotes inside reporting frames; the abuse categories 0, the others
  unknown (a quoted text keeps its spam or profanity, whatever that is);
- ``identity_positive``: neutral and positive statements about identity groups, and about one
  person named by a group term ("a proud muslim nurse"); no label;
- ``negation``: abuse denied, rejected or refuted ("{group} are not a threat to anyone"); no
  label;
- ``safety_talk``: talk about a risky subject that is not a violation: self-harm recovery and
  help-seeking, scam and fraud warnings, sexual health and education, safety advice about
  violence; no label;
- ``obfuscated``: copies of training positives with a word or two obfuscated
  (components.data.obfuscate), labels copied;
- ``in_context``: short training positives after the start of a benign training text, as a
  long text's later windows show them (training reads a text's first window only, so without
  them every violation it sees starts its window); a category is 1 where the positive has it,
  0 where both texts are known 0, else unknown;
- ``identity_swap``: copies of the training rows that name an identity group, the group swapped
  for another (components.data.identity_swap), labels and annotator shares kept.

Templated rows are 0 for the categories whose absence the templates guarantee and unknown for
the rest (a custom taxonomy's categories). The sentence frames and names
(components.data.augment_templates) are deliberately not the behavioural suite's
(components.model.behaviour): the suite tests generalisation, so it must not be trained on its
own sentences.

Everything is drawn from ``random.Random`` seeded by the config's seed and the kind, in a fixed
order, so a seed gives the same rows on every platform.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pandas as pd

from components.config import AugmentConfig
from components.data.augment_templates import SLOTS, TEMPLATES
from components.data.canonical import BASE_COLUMNS, frame_from_records, label_column
from components.data.identity_swap import identity_swapped_copies
from components.data.obfuscate import STYLES, WORD, obfuscate

SOURCE_PREFIX = "augment:"
KINDS = (
    "counter_speech",
    "quoting",
    "identity_positive",
    "negation",
    "safety_talk",
    "obfuscated",
    "in_context",
    "identity_swap",
)
# Categories a hard negative is not, whatever words it borrows from abuse.
ABUSE_CATEGORIES = ("hate", "harassment", "violence", "toxic", "offensive", "self_harm")
# Categories the templates here are known to be free of: templated rows are 0 for these.
CLEAN_CATEGORIES = (*ABUSE_CATEGORIES, "sexual", "spam", "profanity")
# Positives quotable in a report: abuse of others (someone's self-harm post is not abuse).
QUOTABLE_CATEGORIES = ("hate", "harassment", "violence", "toxic", "offensive")
# Templated kinds, each with the categories its rows are 0 for (the others are unknown).
TEMPLATED_KINDS = {
    "counter_speech": CLEAN_CATEGORIES,
    "quoting": ABUSE_CATEGORIES,
    "identity_positive": CLEAN_CATEGORIES,
    "negation": CLEAN_CATEGORIES,
    "safety_talk": CLEAN_CATEGORIES,
}
MAX_QUOTE_CHARS = 120
TRAIN_QUOTE_SHARE = 0.5  # of quoting rows, when the training split has short positives to quote
OBFUSCATED_WORDS = 2  # at most, of the longer words of a copied text
MIN_OBFUSCATED_LENGTH = 4
TRIES_PER_TEXT = 20
CONTEXT_CHARS = (60, 200)  # of benign text before an in-context positive (a 64-token window
# holds about 250 characters), cut at a word
SLOT = re.compile(r"\{(\w+)\}")


def fill(
    template: str,
    slots: dict[str, tuple[str, ...]],
    rng: random.Random,
    fixed: dict[str, str] | None = None,
) -> dict[str, str]:
    """A value for each ``{slot}`` of ``template``, in order of appearance (a repeated slot keeps
    its value); ``fixed`` values are taken as they are."""
    values = dict(fixed or {})
    for name in SLOT.findall(template):
        if name not in values:
            values[name] = rng.choice(slots[name])
    return values


def substitute(template: str, values: dict[str, str]) -> str:
    return SLOT.sub(lambda match: values[match.group(1)], template)


def render(template: str, values: dict[str, str]) -> str:
    """``template`` with its slots filled, first letter capitalised ("women are..." opens a
    sentence as "Women are...")."""
    text = substitute(template, values)
    return text[:1].upper() + text[1:]


def distinct_texts(make: Callable[[], str], count: int) -> list[str]:
    """``count`` texts from ``make``: distinct while the draws allow, then repeated in order."""
    texts, seen = [], set()
    for _ in range(count * TRIES_PER_TEXT):
        if len(texts) == count:
            break
        text = make()
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return [texts[i % len(texts)] for i in range(count)] if texts else []


def rows_frame(records: list[dict], categories: list[str]) -> pd.DataFrame:
    """Canonical training rows: base columns, an Int64 ``label_<category>`` per category (<NA>
    where unknown) and ``split``; empty records give an empty frame with the same columns."""
    frame = frame_from_records(records)
    for category in categories:
        column = label_column(category)
        values = frame[column] if column in frame.columns else [pd.NA] * len(frame)
        frame[column] = pd.array(values, dtype="Int64")
    frame["split"] = "train"
    return frame[[*BASE_COLUMNS, *(label_column(c) for c in categories), "split"]]


def _labels(categories: list[str], zero: tuple[str, ...]) -> dict[str, int | None]:
    return {c: 0 if c in zero else None for c in categories}


def _templated_texts(kind: str, count: int, rng: random.Random) -> list[str]:
    def make() -> str:
        template = rng.choice(TEMPLATES[kind])
        return render(template, fill(template, SLOTS, rng))

    return distinct_texts(make, count)


def _any_positive(frame: pd.DataFrame, categories) -> pd.Series:
    """Per row: whether any of ``categories`` (those the frame has) is labelled 1."""
    columns = [label_column(c) for c in categories if label_column(c) in frame.columns]
    if not columns:
        return pd.Series(False, index=frame.index)
    return frame[columns].eq(1).fillna(False).any(axis=1)


def _quotable(train: pd.DataFrame, categories: list[str]) -> list[str]:
    """Short single-line training texts that abuse someone: quotable in a report."""
    quotable = [c for c in QUOTABLE_CATEGORIES if c in categories]
    texts = train.loc[_any_positive(train, quotable), "text"].dropna().astype(str).str.strip()
    short = texts[(texts.str.len() <= MAX_QUOTE_CHARS) & ~texts.str.contains("\n")]
    return [text for text in short if text]


def _quoting_texts(count: int, rng: random.Random, quotable: list[str]) -> list[str]:
    def make() -> str:
        if quotable and rng.random() < TRAIN_QUOTE_SHARE:
            quote = rng.choice(quotable)
        else:
            template = rng.choice(TEMPLATES["quote"])
            quote = substitute(template, fill(template, SLOTS, rng))
        frame = rng.choice(TEMPLATES["quoting"])
        return render(frame, fill(frame, SLOTS, rng, {"quote": quote}))

    return distinct_texts(make, count)


def _words_to_obfuscate(text: str, rng: random.Random) -> list[str] | None:
    """One or two of the longer words (None: the longest word, for a text of short words)."""
    longer = [w for w in WORD.findall(text) if len(w) >= MIN_OBFUSCATED_LENGTH]
    longer = list(dict.fromkeys(longer))
    return rng.sample(longer, min(len(longer), rng.randint(1, OBFUSCATED_WORDS))) or None


def _row_labels(row: pd.Series, categories: list[str]) -> dict[str, int | None]:
    values = {c: row.get(label_column(c), pd.NA) for c in categories}
    return {c: None if pd.isna(value) else int(value) for c, value in values.items()}


def _obfuscated_copies(
    train: pd.DataFrame, categories: list[str], share: float, rng: random.Random
) -> list[tuple[str, dict]]:
    """(text, labels) of ``round(share * positives)`` training positives, obfuscated; rows whose
    text a style leaves unchanged are passed over."""
    positives = train[_any_positive(train, categories)]
    wanted = round(share * len(positives))
    copies = []
    for index in rng.sample(range(len(positives)), len(positives)):
        if len(copies) == wanted:
            break
        row = positives.iloc[index]
        text = row["text"] if isinstance(row["text"], str) else ""
        changed = obfuscate(text, rng.choice(STYLES), rng, _words_to_obfuscate(text, rng))
        if changed != text:
            copies.append((changed, _row_labels(row, categories)))
    return copies


def _in_context_copies(
    train: pd.DataFrame, categories: list[str], share: float, rng: random.Random
) -> list[tuple[str, dict]]:
    """(text, labels) of ``round(share * short positives)`` short training positives, each after
    the start of a benign training text."""
    texts = train["text"].where(train["text"].map(lambda t: isinstance(t, str)), "")
    short = texts.str.len().between(1, MAX_QUOTE_CHARS)  # an image row's empty text is no text
    positives = train[_any_positive(train, categories) & short]
    benign = train[~_any_positive(train, categories) & texts.str.len().ge(CONTEXT_CHARS[1])]
    if benign.empty:
        return []
    copies = []
    for index in rng.sample(range(len(positives)), round(share * len(positives))):
        positive, context = positives.iloc[index], benign.iloc[rng.randrange(len(benign))]
        cut = context["text"][: rng.randint(*CONTEXT_CHARS)].rsplit(" ", 1)[0]
        labels = _row_labels(positive, categories)
        for name, known in _row_labels(context, categories).items():
            labels[name] = 1 if labels[name] == 1 else (0 if labels[name] == known == 0 else None)
        copies.append((f"{cut} {positive['text']}", labels))
    return copies


def _record(kind: str, number: int, text: str, labels: dict) -> dict:
    return {
        "id": f"augment-{kind}-{number}",
        "text": text,
        "source": SOURCE_PREFIX + kind,
        "labels": dict(labels),
    }


def _training_split(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["split"].eq("train")] if "split" in frame.columns else frame


def _kind_rng(seed: int, kind: str) -> random.Random:
    """One generator per kind, so a kind's rows do not depend on the other kinds' counts."""
    return random.Random(f"{seed}:{kind}")


def augment_training(
    train: pd.DataFrame, categories: list[str], config: AugmentConfig
) -> pd.DataFrame:
    """The augmentation rows for ``train`` (only its rows of the training split are read): the
    new rows alone, in the canonical columns, for the caller to add to the training split."""
    train = _training_split(train)
    quotable = _quotable(train, categories)
    records = []
    for kind, zero in TEMPLATED_KINDS.items():
        rng = _kind_rng(config.seed, kind)
        count = getattr(config, kind)
        if kind == "quoting":
            texts = _quoting_texts(count, rng, quotable)
        else:
            texts = _templated_texts(kind, count, rng)
        labels = _labels(categories, zero)
        records += [_record(kind, number, text, labels) for number, text in enumerate(texts)]
    rng = _kind_rng(config.seed, "obfuscated")
    copies = _obfuscated_copies(train, categories, config.obfuscated_share, rng)
    records += [_record("obfuscated", n, text, labels) for n, (text, labels) in enumerate(copies)]
    rng = _kind_rng(config.seed, "in_context")
    copies = _in_context_copies(train, categories, config.in_context_share, rng)
    records += [_record("in_context", n, text, labels) for n, (text, labels) in enumerate(copies)]
    rng = _kind_rng(config.seed, "identity_swap")
    swapped = identity_swapped_copies(train, categories, config.identity_swaps, rng)
    rows = rows_frame(records, categories)
    return pd.concat([rows, swapped], ignore_index=True) if len(swapped) else rows


def augmentation_counts(rows: pd.DataFrame) -> dict[str, int]:
    """Rows of each kind, every kind named (0 where none), for logging."""
    sources = rows["source"].value_counts() if len(rows) else pd.Series(dtype=int)
    return {kind: int(sources.get(SOURCE_PREFIX + kind, 0)) for kind in KINDS}
