"""Text normalisation before the model sees a text: fold what attackers use to dodge classifiers.

One step, shared by training, evaluation and the service (the model applies it itself, see
:class:`~components.model.modeling.ModerationModel`), so a model never meets a text in a form it
was not trained on:

- Unicode NFKC, character by character: fullwidth and mathematical letters, ligatures and
  compatibility forms become their plain letters ("𝐤𝐢𝐥𝐥" -> "kill");
- zero-width and other invisible format characters are dropped, control characters become
  spaces, and combining marks stacked on a Latin letter ("k̷i̷l̷l̷") are dropped (an accent
  written as a mark is composed with its letter instead);
- look-alike letters of other scripts inside Latin words (a Cyrillic "і" in "kіll") become the
  Latin letter they imitate, after the Unicode confusables data of ``confusable_homoglyphs``.
  A word written wholly in another script is left alone, so Russian or Greek stays as it is.

Leetspeak ("k1ll") is not folded here: a table of digit->letter rules breaks ordinary numbers,
so the model learns it from obfuscated training copies (components.data.augment).

:func:`normalize_with_offsets` also maps every character of the result back to the character
of the original text it came from, so spans found on the normalised text are reported in the
caller's own offsets.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from confusable_homoglyphs import confusables

NORMALIZATION = "nfkc-invisible-confusables-v1"  # recorded on the model card
WORD = re.compile(r"\w+")
_KEEP_CONTROLS = "\n\t"


@functools.lru_cache(maxsize=1 << 16)  # bounded: a pool scan meets millions of texts
def _latin_lookalikes() -> dict[str, str]:
    """Non-Latin letter -> the ASCII letter it is confusable with, from the confusables data."""
    table = {}
    for character, entry in confusables.confusables_data.items():
        if len(character) != 1 or character.isascii():
            continue
        for homoglyph in entry:
            glyph = homoglyph["c"]
            if len(glyph) == 1 and glyph.isascii() and glyph.isalpha():
                table[character] = glyph
                break
    return table


def _fold_character(character: str) -> str:
    """NFKC of one character, with invisible characters dropped and controls as spaces."""
    category = unicodedata.category(character)
    if category == "Cf":
        return ""
    if category == "Cc":
        return character if character in _KEEP_CONTROLS else " "
    return unicodedata.normalize("NFKC", character)


def _folded(text: str) -> tuple[list[str], list[int]]:
    """NFKC pieces of ``text`` and, for each output character, the index it came from."""
    characters, origin = [], []
    previous_latin = False
    for index, character in enumerate(text):
        if unicodedata.category(character) == "Mn" and previous_latin:
            composed = unicodedata.normalize("NFC", characters[-1] + character)
            if len(composed) == 1:  # an accent written as a mark: "e" + U+0301 is "é"
                characters[-1] = composed
            continue  # else a mark stacked on a Latin letter to disguise it (Zalgo text)
        for piece in _fold_character(character):
            characters.append(piece)
            origin.append(index)
        if characters and origin[-1] == index:
            previous_latin = characters[-1].isascii() and characters[-1].isalpha()
    return characters, origin


def _fold_lookalikes(characters: list[str]) -> None:
    """In place: look-alike letters become Latin ones inside words that hold a Latin letter."""
    lookalikes = _latin_lookalikes()
    text = "".join(characters)
    for match in WORD.finditer(text):
        word = match.group()
        if word.isascii() or not any(c.isascii() and c.isalpha() for c in word):
            continue
        for offset, character in enumerate(word):
            if character in lookalikes:
                characters[match.start() + offset] = lookalikes[character]


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """The normalised text, and for each of its characters the index in ``text`` it came from."""
    if text.isascii() and text.isprintable():
        return text, list(range(len(text)))
    characters, origin = _folded(text)
    _fold_lookalikes(characters)
    return "".join(characters), origin


def normalize(text: str) -> str:
    """``text`` with invisible characters, compatibility forms and look-alike letters folded."""
    return normalize_with_offsets(text)[0]


def original_span(origin: list[int], start: int, end: int) -> tuple[int, int]:
    """The span of the original text that normalised characters ``start:end`` came from."""
    if start >= end:
        position = origin[start] if start < len(origin) else (origin[-1] + 1 if origin else 0)
        return position, position
    return origin[start], origin[end - 1] + 1
