"""Obfuscation: what people do to a word to slip it past a text classifier.

Each style is a pure function of a word and a ``random.Random``:

- ``leetspeak``: letters become digits or symbols ("k1ll", "h4te", "$c@m");
- ``spacing``: a space between letters ("k i l l");
- ``separators``: a separator between letters ("k.i.l.l") or a starred vowel ("k*ll");
- ``character swap``: a typo, two neighbouring letters swapped or one letter doubled;
- ``homoglyphs``: Latin letters replaced by Cyrillic or Greek look-alikes ("kіll" with a
  Cyrillic "і"), taken from the Unicode confusables data of ``confusable_homoglyphs``;
- ``zero-width``: invisible characters (U+200B, U+200C, U+200D, U+2060) between letters.

:func:`obfuscate` applies one style to chosen words of a text. The augmentation step uses it for
obfuscated training copies (components.data.augment), the behavioural suite for its obfuscated
cases (components.model.behaviour).
"""

from __future__ import annotations

import functools
import random
import re
import string
import unicodedata
from collections.abc import Callable

from confusable_homoglyphs import categories, confusables

from components.errors import ModpipeError

LEET = {"a": "4@", "e": "3", "i": "1!", "o": "0", "s": "5$", "t": "7"}
SEPARATORS = ".-_*"
VOWELS = "aeiouAEIOU"
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060")
LOOKALIKE_SCRIPTS = ("CYRILLIC", "GREEK")
WORD = re.compile(r"[A-Za-z]+")


def leetspeak(word: str, rng: random.Random) -> str:
    positions = [i for i, c in enumerate(word) if c.lower() in LEET]
    if not positions:
        return word
    chosen = rng.sample(positions, rng.randint(1, len(positions)))
    letters = list(word)
    for i in sorted(chosen):
        letters[i] = rng.choice(LEET[word[i].lower()])
    return "".join(letters)


def spacing(word: str, rng: random.Random) -> str:
    return " ".join(word)


def separators(word: str, rng: random.Random) -> str:
    inner_vowels = [i for i in range(1, len(word) - 1) if word[i] in VOWELS]
    if inner_vowels and rng.random() < 0.5:
        i = rng.choice(inner_vowels)
        return word[:i] + "*" + word[i + 1 :]
    return rng.choice(SEPARATORS).join(word)


def character_swap(word: str, rng: random.Random) -> str:
    """A typo: two different neighbouring letters swapped, else one letter doubled."""
    pairs = [i for i in range(len(word) - 1) if word[i] != word[i + 1]]
    if pairs and rng.random() < 0.5:
        i = rng.choice(pairs)
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    i = rng.randrange(len(word))
    return word[: i + 1] + word[i:]


def homoglyphs(word: str, rng: random.Random) -> str:
    """Some letters as look-alikes; at least one Latin letter stays, as in real evasions (a word
    wholly in another script reads as that script)."""
    table = _homoglyph_table()
    positions = [i for i, c in enumerate(word) if c in table]
    most = len(positions) if len(positions) < len(word) else len(positions) - 1
    if most < 1:
        return word
    letters = list(word)
    for i in sorted(rng.sample(positions, rng.randint(1, most))):
        letters[i] = rng.choice(table[word[i]])
    return "".join(letters)


def zero_width(word: str, rng: random.Random) -> str:
    gaps = range(1, len(word))
    if not gaps:
        return word
    chosen = sorted(rng.sample(gaps, rng.randint(1, len(gaps))))
    pieces, start = [], 0
    for gap in chosen:
        pieces += [word[start:gap], rng.choice(ZERO_WIDTH)]
        start = gap
    return "".join(pieces) + word[start:]


@functools.cache
def _homoglyph_table() -> dict[str, tuple[str, ...]]:
    """ASCII letter -> its single-letter look-alikes in Cyrillic and Greek, from the confusables
    data (mathematical alphanumerics and multi-character sequences left out)."""
    table = {}
    for letter in string.ascii_letters:
        entries = confusables.confusables_data.get(letter, [])
        glyphs = sorted({entry["c"] for entry in entries if _is_lookalike_letter(entry["c"])})
        if glyphs:
            table[letter] = tuple(glyphs)
    return table


def _is_lookalike_letter(glyph: str) -> bool:
    return (
        len(glyph) == 1
        and unicodedata.category(glyph) in ("Ll", "Lu")
        and categories.alias(glyph) in LOOKALIKE_SCRIPTS
    )


STYLE_FUNCTIONS: dict[str, Callable[[str, random.Random], str]] = {
    "leetspeak": leetspeak,
    "spacing": spacing,
    "separators": separators,
    "character swap": character_swap,
    "homoglyphs": homoglyphs,
    "zero-width": zero_width,
}
STYLES = tuple(STYLE_FUNCTIONS)


def longest_word(text: str) -> str:
    """The first of the longest runs of ASCII letters in ``text`` ("" when there is none)."""
    return max(WORD.findall(text), key=len, default="")


def obfuscate(text: str, style: str, rng: random.Random, words: list[str] | None = None) -> str:
    """``text`` with every occurrence of ``words`` (case-insensitive; by default its longest
    word) obfuscated in ``style``. Words with nothing to change for a style (no letter with a
    look-alike, say) stay as they are, so the result can equal ``text``."""
    if style not in STYLE_FUNCTIONS:
        raise ModpipeError(f"unknown obfuscation style {style!r}; one of: {', '.join(STYLES)}")
    change = STYLE_FUNCTIONS[style]
    targets = {word.lower() for word in (words if words else [longest_word(text)])}

    def replace(match: re.Match) -> str:
        word = match.group()
        return change(word, rng) if word.lower() in targets else word

    return WORD.sub(replace, text)
