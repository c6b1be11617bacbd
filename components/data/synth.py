"""The synthetic demo corpus: short, template-built posts for every default category.

Texts are composed from templates whose ``{slot}`` fields are drawn from word banks (slots may
nest), then dressed with chat openers, closers, casing and, in some positives, obfuscation
(leetspeak, "h a t e", "haaate", "h*te", "h.a.t.e"). Beside plain safe posts there are hard
negatives: idioms ("this set killed it"), gaming talk, news that quotes abuse, counter-speech,
support posts and scam warnings. Some rows carry two labels, ~2% have one label flipped (noise)
and ~2% one label unknown (null). Group identities are generic or invented, insults are mild.

Everything is drawn from one ``random.Random(seed)`` in a fixed order, so a seed gives the same
rows, and :func:`write_synthetic_dataset` the same bytes, on every platform (the DVC md5 of the
demo dataset depends on it).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pandas as pd

from components.data.canonical import (
    MENTION_OR_URL,
    DatasetCard,
    frame_from_records,
    load_taxonomy,
    text_key,
    write_dataset,
)
from components.data.synth_templates import CLOSERS, KINDS, OPENERS, SLOTS, Kind
from components.errors import ModpipeError

CARD_NAME = "synthetic-demo"
SOURCE = "synthetic"
MIN_ROWS = 100
MAX_ROWS = 10_000  # the word banks give enough distinct texts up to here
MAX_TEXT_CHARS = 199
NOISE_SHARE = 0.02  # rows with one label flipped
UNKNOWN_SHARE = 0.02  # rows with one label unknown (null)
OBFUSCATED_SHARE = 0.2  # of positive rows
RATIONALE_SHARE = 0.3  # of positive rows; hard negatives always explain themselves
TRIES_PER_ROW = 200

WORD = re.compile(r"[A-Za-z]+")
# Words whose disguise lets abuse slip past keyword filters: the first choice to obfuscate.
# fmt: off
ABUSIVE_SLOTS = (
    "group_noun", "group_adj", "pests", "insult", "insult_adj", "threat_you", "attack", "beaten",
    "weapon", "body_pics", "hurt_self", "coin", "product", "prize",
)
TRIGGER_WORDS = frozenset(
    word.lower()
    for slot in ABUSIVE_SLOTS
    for phrase in SLOTS[slot]
    for word in WORD.findall(phrase)
    if len(word) >= 4 and word.lower() not in ("your", "little")
) | frozenset((
    "hate", "kill", "die", "ending", "gone", "living", "disappear", "goodbye", "pain", "harm",
    "deserve", "ruin", "banned", "human", "trust", "breed", "disease", "rights", "shut", "report",
    "cry", "nobody", "delete", "embarrassing", "beating", "fights", "violent", "burn", "horny",
    "sext", "sexting", "naked", "strip", "dirty", "naughty", "hookup", "body", "bed", "wives",
    "singles", "xxx", "cams", "free", "click", "claim", "cheap", "earn", "money", "rich", "won",
    "login", "password", "details", "verify", "giveaway", "suspended", "fee",
))
# fmt: on
LEET = str.maketrans("aeiostAEIOST", "431057431057")
VOWELS = "aeiouAEIOU"
SLOT = re.compile(r"\{(\w+)\}")
A_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=[aeioAEIO]|[uU](?!s))")  # "a idiot" -> "an idiot"


def _fill(template: str, rng: random.Random) -> str:
    return SLOT.sub(lambda slot: _fill(rng.choice(SLOTS[slot.group(1)]), rng), template)


def _fix_articles(text: str) -> str:
    return A_BEFORE_VOWEL.sub(r"\1n ", text)


def _dress(text: str, rng: random.Random) -> str:
    """Chat styling: an opener, a closer and a casing, so the surface is not the signal."""
    closer = rng.choice(CLOSERS)
    if closer[:1] in ".!":
        text = text.rstrip(".!?")
    text = rng.choice(OPENERS) + text + closer
    casing = rng.random()
    if casing < 0.3:
        return text.lower()
    if casing < 0.37:
        return text.upper()
    return text[0].upper() + text[1:]


def _disguise(word: str, rng: random.Random) -> str:
    style = rng.choice(("leet", "spaced", "stretched", "masked", "dotted"))
    vowel_at = next((i for i, c in enumerate(word) if c in VOWELS and i > 0), None)
    if style == "stretched" and vowel_at is not None:
        return word[:vowel_at] + word[vowel_at] * rng.randint(3, 5) + word[vowel_at + 1 :]
    if style == "masked" and vowel_at is not None:
        return word[:vowel_at] + "*" + word[vowel_at + 1 :]
    if style == "leet" and word.translate(LEET) != word:
        return word.translate(LEET)
    if style == "dotted":
        return ".".join(word)
    return " ".join(word)


def _obfuscate(text: str, rng: random.Random) -> str:
    """Disguise one trigger word (or, failing that, one long word) outside links and @names."""
    links = [link.span() for link in MENTION_OR_URL.finditer(text)]
    words = [w for w in WORD.finditer(text) if not any(a <= w.start() < b for a, b in links)]
    candidates = [w for w in words if w.group().lower() in TRIGGER_WORDS]
    candidates = candidates or [w for w in words if len(w.group()) >= 5] or words
    chosen = rng.choice(candidates)
    return text[: chosen.start()] + _disguise(chosen.group(), rng) + text[chosen.end() :]


def _compose(kind: Kind, obfuscated: bool, rng: random.Random, seen: set[str]) -> str:
    """A text of this kind whose normalised key is new (no near-duplicates in the corpus)."""
    for _ in range(TRIES_PER_ROW):
        text = _fix_articles(_fill(rng.choice(kind.templates), rng))
        if obfuscated:
            text = _obfuscate(text, rng)
        if kind.casual:
            text = _dress(text, rng)
        key = text_key(text)
        if len(text) <= MAX_TEXT_CHARS and key not in seen:
            seen.add(key)
            return text
    raise ModpipeError(
        f"the word banks ran out of distinct '{kind.name}' texts; ask for fewer rows"
    )


def _kind_plan(rows: int, rng: random.Random) -> list[Kind]:
    """Each kind's share of the rows (the first kind takes the rounding), in shuffled order."""
    counts = [round(kind.share * rows) for kind in KINDS[1:]]
    plan = [KINDS[0]] * (rows - sum(counts))
    for kind, count in zip(KINDS[1:], counts, strict=True):
        plan += [kind] * count
    rng.shuffle(plan)
    return plan


def _agreement(kind: Kind, obfuscated: bool, rng: random.Random) -> float:
    """Share of five annotators who agreed: lower on hard, disguised and multi-label rows."""
    if kind.hard or obfuscated or len(kind.labels) > 1:
        return rng.choice((0.6, 0.8, 0.8, 1.0))
    return rng.choice((0.8, 1.0, 1.0, 1.0))


def _record(
    number: int, kind: Kind, categories: list[str], rng: random.Random, seen: set[str]
) -> dict:
    obfuscated = bool(kind.labels) and rng.random() < OBFUSCATED_SHARE
    explained = kind.hard or (bool(kind.labels) and rng.random() < RATIONALE_SHARE)
    rationale = kind.rationale if explained else None
    if rationale and obfuscated:
        rationale += "; obfuscated spelling"
    return {
        "id": f"synth-{number:05d}",
        "text": _compose(kind, obfuscated, rng, seen),
        "labels": {name: int(name in kind.labels) for name in categories},
        "source": SOURCE,
        "agreement": _agreement(kind, obfuscated, rng),
        "rationale": rationale,
    }


def _add_label_noise(records: list[dict], categories: list[str], rng: random.Random) -> None:
    """Flip one label on ~2% of rows and hide one on another ~2%: real annotation is messy."""
    chosen = rng.sample(range(len(records)), round((NOISE_SHARE + UNKNOWN_SHARE) * len(records)))
    flipped = round(NOISE_SHARE * len(records))
    for position, index in enumerate(chosen):
        labels = records[index]["labels"]
        name = rng.choice(categories)
        if position < flipped:
            labels[name] = 1 - labels[name]
            records[index]["agreement"] = 0.6
        else:
            labels[name] = None


def _description(seed: int, rows: int) -> str:
    return (
        f"Synthetic demo corpus (seed {seed}, {rows} rows), generated by components/synth.py "
        "from templates: no real user content. Short posts for every default category, with "
        "hard negatives (idioms, gaming talk, news, counter-speech, support), obfuscated "
        "positives, multi-label rows, ~2% flipped labels and ~2% unknown labels. For demos and "
        "tests only; it says nothing about real moderation performance."
    )


def synthesize_corpus(seed: int = 13, rows: int = 3600) -> tuple[DatasetCard, pd.DataFrame]:
    """The synthetic demo corpus: the same seed and rows give the same frame, everywhere."""
    if not MIN_ROWS <= rows <= MAX_ROWS:
        raise ModpipeError(f"rows must be between {MIN_ROWS} and {MAX_ROWS}, not {rows}")
    taxonomy = load_taxonomy()
    missing = sorted({name for kind in KINDS for name in kind.labels} - set(taxonomy.names))
    if missing:
        raise ModpipeError(
            f"the default taxonomy lacks {', '.join(missing)}, which the synthetic corpus labels"
        )
    rng = random.Random(seed)
    seen: set[str] = set()
    records = [
        _record(number, kind, taxonomy.names, rng, seen)
        for number, kind in enumerate(_kind_plan(rows, rng), start=1)
    ]
    _add_label_noise(records, taxonomy.names, rng)
    card = DatasetCard(
        name=CARD_NAME,
        source=SOURCE,
        synthetic=True,
        description=_description(seed, rows),
        categories=taxonomy.categories,
    )
    return card, frame_from_records(records)


def write_synthetic_dataset(directory: Path, seed: int = 13, rows: int = 3600) -> Path:
    """Write the corpus as a canonical dataset folder; its bytes depend only on seed and rows."""
    card, frame = synthesize_corpus(seed=seed, rows=rows)
    return write_dataset(directory, card, frame)
