"""Term lists per category (blocklists, as in Azure Content Safety), one recall channel.

A list is YAML, ``{category: [entry, ...]}``: an entry is a phrase, matched as whole words
without regard to case or spacing, or ``re:PATTERN``, a Python regular expression. Texts are
matched after the model's own normalisation, so a look-alike letter or an invisible character
does not hide a listed term. The lists live in ``terms/`` (``terms.dvc``): ``modpipe data pull
terms`` fetches the recorded version, and a queue records the version it was built with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.errors import ModpipeError
from components.model.normalize import normalize

TERMS_FILE = "terms.yaml"
REGEX_PREFIX = "re:"
# The starter lists (`modpipe data pull terms` writes them where the DVC remote lacks the
# folder): scam and spam phrases and explicit self-harm and violence incitement, so each
# channel has something to find on a new install. Teams replace them with their own.
STARTER_TERMS = {
    "spam": [
        "claim your prize",
        "you have won",
        "free entry",
        "click here to claim",
        "txt stop",
        "urgent! your mobile",
        r"re:\b(?:win|won)\b.{0,30}\b(?:cash|prize|voucher)\b",
    ],
    "self_harm": ["kill yourself", "kys", "go die", r"re:\bhang yourself\b"],
    "violence": ["i will kill you", "shoot them all", r"re:\bi(?:'ll| will) (?:stab|shoot) you\b"],
}


@dataclass(frozen=True)
class TermLists:
    """Compiled lists: one alternation per category, so a text is searched once per category."""

    patterns: dict[str, re.Pattern]

    def matches(self, text: str) -> dict[str, str]:
        """Per category with a hit, the first listed term found in ``text`` (normalised)."""
        normal = normalize(text)
        found = {}
        for category, pattern in self.patterns.items():
            if hit := pattern.search(normal):
                found[category] = hit.group(0)
        return found


def _entry_pattern(entry: str) -> str:
    if entry.startswith(REGEX_PREFIX):
        return entry[len(REGEX_PREFIX) :]
    words = [re.escape(word) for word in entry.split()]
    return r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)"


def compile_terms(raw: object, categories: list[str], origin: str) -> TermLists:
    """The lists in ``raw`` for the model's ``categories``; an unknown category, an entry that
    is not a string or a pattern that does not compile is an error naming it."""
    if not isinstance(raw, dict):
        raise ModpipeError(f"{origin}: expected {{category: [terms]}}, not {type(raw).__name__}")
    patterns = {}
    for category, entries in raw.items():
        if category not in categories:
            raise ModpipeError(
                f"{origin}: {category!r} is not a category of the model ({', '.join(categories)})"
            )
        if not isinstance(entries, list) or not all(isinstance(e, str) and e for e in entries):
            raise ModpipeError(f"{origin}: {category}: expected a list of non-empty strings")
        for entry in entries:
            try:
                re.compile(_entry_pattern(entry))
            except re.error as err:
                raise ModpipeError(
                    f"{origin}: {category}: invalid pattern {entry!r}: {err}"
                ) from None
        if entries:
            alternation = "|".join(f"(?:{_entry_pattern(e)})" for e in entries)
            patterns[category] = re.compile(alternation, re.IGNORECASE)
    return TermLists(patterns)


def load_terms(path: Path, categories: list[str]) -> TermLists:
    path = Path(path)
    if not path.is_file():
        raise ModpipeError(
            f"{path}: no term lists; `modpipe data pull {path.parent}` fetches them, or set "
            "recall.terms to null to scan without the terms channel"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ModpipeError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
    return compile_terms(raw, categories, str(path))


def write_starter_terms(folder: Path) -> None:
    """The starter lists in ``folder``, byte for byte the same every time (DVC versions them)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    header = "# Term lists per category; see components/recall/terms.py for the format.\n"
    body = yaml.safe_dump(STARTER_TERMS, sort_keys=True, allow_unicode=True, width=100)
    (folder / TERMS_FILE).write_text(header + body, encoding="utf-8")
