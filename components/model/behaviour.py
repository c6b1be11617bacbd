"""Behavioural tests of a moderation model: what it decides on cases built to probe one
capability each, beside the aggregate metrics.

After the behavioural testing of Made With ML (CheckList, Ribeiro et al. 2020) and the
functional tests of HateCheck (Röttger et al. 2021), every case belongs to a *functionality*:

- ``mft`` (minimum functionality): a text and the decisions it must get. Explicit violations
  of each category in several forms (statement, imperative, question, dehumanisation); the same
  with their key word obfuscated in each style of components.data.obfuscate; hard negatives
  that borrow abuse's words without being abuse (counter-speech, quoting abuse to report it,
  negation, reclaimed in-group words, homonyms such as "shoot me an email", profanity that
  abuses no one, support talk, scam warnings, sex education); and plain safe content.
- ``inv`` (invariance): a change that must leave every decision as it is: another identity
  group or person name, a benign typo, punctuation and casing.
- ``dir`` (directional): a change that must raise one category's score: an added threat
  (violence), an added insult (harassment).

The sentences are templates with ``{slot}`` fields, filled from word banks; both live in
components.model.behaviour_templates, written for this project. Categories without templates
there (custom taxonomies) get only the invariance cases and are reported as skipped.

Deterministic: each functionality draws from its own ``random.Random`` seeded by the seed and
its name, in a fixed order, so a seed gives the same cases on every platform.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from components.data.augment import fill, render, rows_frame
from components.data.obfuscate import STYLES, WORD, obfuscate
from components.errors import ModpipeError
from components.model.behaviour_templates import (
    DIRECTIONAL,
    HARD_NEGATIVES,
    KEY_SLOTS,
    SLOTS,
    TEMPLATED_CATEGORIES,
    TEMPLATES,
)

SUITE_SOURCE = "behaviour-suite"
EXPLICIT_CASES = 30  # per category
CASES_PER_FUNCTIONALITY = 24
TRIES_PER_CASE = 20
MIN_TYPO_LENGTH = 4


@dataclass(frozen=True)
class Case:
    """One behavioural test. ``mft``: ``text`` must get the decisions of ``expect``
    (category -> flagged). ``inv``: ``text`` and ``variant`` must get the same decisions, for
    ``category`` or, when None, for every category. ``dir``: ``category``'s score must be
    higher for ``variant`` than for ``text``."""

    functionality: str
    kind: Literal["mft", "inv", "dir"]
    text: str
    expect: dict[str, bool] = field(default_factory=dict, hash=False)
    variant: str | None = None
    category: str | None = None
    synthetic: bool = True


@dataclass(frozen=True)
class _Draft:
    """A filled template, with its slot values (kept for swaps) and key words (to obfuscate)."""

    template: str
    values: dict[str, str]
    text: str
    key_words: tuple[str, ...]


def _rng(seed: int, functionality: str) -> random.Random:
    return random.Random(f"{seed}:{functionality}")


def _drafts(
    templates: tuple[str, ...], count: int, rng: random.Random, key_slots: tuple[str, ...] = ()
) -> list[_Draft]:
    """Up to ``count`` distinct filled templates, taking the templates in turn."""
    drafts, seen = [], set()
    for attempt in range(count * TRIES_PER_CASE):
        if len(drafts) == count:
            break
        template = templates[attempt % len(templates)]
        values = fill(template, SLOTS, rng)
        text = render(template, values)
        if text in seen:
            continue
        seen.add(text)
        keys = [w for slot in key_slots if slot in values for w in WORD.findall(values[slot])]
        drafts.append(_Draft(template, values, text, tuple(w for w in keys if len(w) >= 3)))
    return drafts


def _interleaved(groups: list[list], rng: random.Random) -> list:
    """Each group shuffled, then one of each group in turn: a sample balanced over groups."""
    shuffled = [rng.sample(group, len(group)) for group in groups]
    longest = max((len(group) for group in shuffled), default=0)
    return [group[i] for i in range(longest) for group in shuffled if i < len(group)]


def _obfuscated_cases(explicit: dict[str, list[_Draft]], style: str, seed: int) -> list[Case]:
    functionality = f"obfuscated: {style}"
    rng = _rng(seed, functionality)
    pool = _interleaved([[(c, d) for d in drafts] for c, drafts in explicit.items()], rng)
    cases = []
    for category, draft in pool:
        if len(cases) == CASES_PER_FUNCTIONALITY:
            break
        text = obfuscate(draft.text, style, rng, list(draft.key_words))
        if text != draft.text:
            cases.append(Case(functionality, "mft", text, {category: True}))
    return cases


def _hard_negative_cases(categories: list[str], seed: int) -> list[Case]:
    cases = []
    for functionality, bank, unflagged in HARD_NEGATIVES:
        expect = {c: False for c in unflagged if c in categories}
        if expect:
            drafts = _drafts(TEMPLATES[bank], CASES_PER_FUNCTIONALITY, _rng(seed, functionality))
            cases += [Case(functionality, "mft", d.text, dict(expect)) for d in drafts]
    return cases


def _swap_cases(functionality: str, banks: list[str], slot: str, seed: int) -> list[Case]:
    """The same sentence with another value in ``slot``: no decision may change."""
    rng = _rng(seed, functionality)
    templates = tuple(t for bank in banks for t in TEMPLATES[bank])
    cases = []
    for draft in _drafts(templates, CASES_PER_FUNCTIONALITY, rng):
        other = rng.choice([v for v in SLOTS[slot] if v != draft.values[slot]])
        variant = render(draft.template, {**draft.values, slot: other})
        cases.append(Case(functionality, "inv", draft.text, variant=variant))
    return cases


def _benign_typo(draft: _Draft, rng: random.Random) -> str | None:
    """A typo in a word no slot filled (so never the key word nor a group's name)."""
    filled = {w.lower() for value in draft.values.values() for w in WORD.findall(value)}
    words = [w for w in WORD.findall(draft.text) if len(w) >= MIN_TYPO_LENGTH]
    words = [w for w in words if w.lower() not in filled]
    if not words:
        return None
    return obfuscate(draft.text, "character swap", rng, [rng.choice(words)])


RECASINGS: tuple[Callable[[str], str], ...] = (
    str.upper,
    str.lower,
    lambda text: text.rstrip(".!?"),
    lambda text: text.rstrip(".!?") + "!!!",
    lambda text: text.rstrip(".!?") + "...",
    lambda text: text.replace(",", ""),
)


def _recased(draft: _Draft, rng: random.Random) -> str | None:
    variants = [change(draft.text) for change in RECASINGS]
    variants = [v for v in variants if v != draft.text]
    return rng.choice(variants) if variants else None


def _perturbed_cases(
    functionality: str, pool: list[_Draft], change: Callable, seed: int
) -> list[Case]:
    """Drafts of ``pool`` with a surface change (None: not applicable) that no decision heeds."""
    rng = _rng(seed, functionality)
    cases = []
    for draft in rng.sample(pool, len(pool)):
        if len(cases) == CASES_PER_FUNCTIONALITY:
            break
        variant = change(draft, rng)
        if variant is not None and variant != draft.text:
            cases.append(Case(functionality, "inv", draft.text, variant=variant))
    return cases


def _invariance_cases(
    categories: list[str], explicit: dict[str, list[_Draft]], seed: int
) -> list[Case]:
    cases = _swap_cases(
        "invariance: identity swap in neutral text",
        ["neutral identity", "positive identity"],
        "group",
        seed,
    )
    if "hate" in categories:
        cases += _swap_cases("invariance: identity swap in hateful text", ["hate"], "group", seed)
    name_banks = ["people", "harassment"] if "harassment" in categories else ["people"]
    cases += _swap_cases("invariance: name swap", name_banks, "name", seed)
    everyday = _drafts(
        TEMPLATES["safe content"] + TEMPLATES["neutral identity"],
        CASES_PER_FUNCTIONALITY,
        _rng(seed, "invariance pool"),
    )
    pool = [d for drafts in explicit.values() for d in drafts] + everyday
    cases += _perturbed_cases("invariance: benign typo", pool, _benign_typo, seed)
    cases += _perturbed_cases("invariance: punctuation and casing", pool, _recased, seed)
    return cases


def _directional_cases(categories: list[str], seed: int) -> list[Case]:
    cases = []
    for functionality, category, suffixes in DIRECTIONAL:
        if category not in categories:
            continue
        rng = _rng(seed, functionality)
        for draft in _drafts(TEMPLATES["addressed"], CASES_PER_FUNCTIONALITY, rng):
            suffix = rng.choice(TEMPLATES[suffixes])
            variant = f"{draft.text} {render(suffix, fill(suffix, SLOTS, rng))}"
            cases.append(Case(functionality, "dir", draft.text, variant=variant, category=category))
    return cases


def build_suite(categories: list[str], seed: int = 0) -> list[Case]:
    """The behavioural cases for a model of ``categories``: explicit and obfuscated violations
    and hard negatives (mft), invariances (inv) and directional expectations (dir)."""
    explicit = {
        category: _drafts(
            TEMPLATES[category], EXPLICIT_CASES, _rng(seed, category), KEY_SLOTS[category]
        )
        for category in TEMPLATED_CATEGORIES
        if category in categories
    }
    cases = [
        Case(f"explicit {category}", "mft", draft.text, {category: True})
        for category, drafts in explicit.items()
        for draft in drafts
    ]
    for style in STYLES:
        cases += _obfuscated_cases(explicit, style, seed)
    cases += _hard_negative_cases(categories, seed)
    cases += _invariance_cases(categories, explicit, seed)
    cases += _directional_cases(categories, seed)
    return cases


def skipped_categories(categories: list[str]) -> list[str]:
    """The categories the suite has no templates for."""
    return [c for c in categories if c not in KEY_SLOTS]


def functionality_group(case: Case) -> str:
    if case.kind == "inv":
        return "invariance"
    if case.kind == "dir":
        return "directional"
    if case.functionality.startswith("explicit"):
        return "explicit"
    if case.functionality.startswith("obfuscated"):
        return "obfuscation"
    return "hard negative"


def _scores(predict: Callable, texts: list[str], categories: list[str]) -> np.ndarray:
    if not texts:
        return np.zeros((0, len(categories)))
    scores = np.asarray(predict(texts), dtype=float)
    if scores.shape != (len(texts), len(categories)):
        raise ModpipeError(
            f"predict gave scores of shape {scores.shape} for {len(texts)} texts, "
            f"expected [{len(texts)}, {len(categories)}]"
        )
    return scores


class _Judge:
    """Decisions on the suite's texts: a score at or above its category's threshold flags."""

    def __init__(
        self,
        texts: list[str],
        scores: np.ndarray,
        categories: list[str],
        thresholds: dict[str, float],
    ):
        self.row = {text: i for i, text in enumerate(texts)}
        self.column = {category: j for j, category in enumerate(categories)}
        self.categories = categories
        self.scores = scores
        self.thresholds = thresholds

    def score(self, text: str, category: str) -> float:
        if category not in self.column:
            raise ModpipeError(f"a behavioural case names {category!r}, which the model lacks")
        return float(self.scores[self.row[text], self.column[category]])

    def decision(self, text: str, category: str) -> str:
        """The score and the side of the threshold it falls on: "hate 0.81 >= 0.55"."""
        score, threshold = self.score(text, category), self.thresholds[category]
        side = ">=" if score >= threshold else "<"
        return f"{category} {score:.2f} {side} {threshold:.2f}"

    def flagged(self, text: str, category: str) -> bool:
        return self.score(text, category) >= self.thresholds[category]

    def failure(self, case: Case) -> str | None:
        """What went wrong with ``case``; None when it passes."""
        if case.kind == "mft":
            return self._expectation_failure(case)
        if case.variant is None:
            raise ModpipeError(f"{case.functionality}: an {case.kind} case needs a variant")
        if case.kind == "inv":
            return self._invariance_failure(case)
        if case.category is None:
            raise ModpipeError(f"{case.functionality}: a dir case needs a category")
        return self._direction_failure(case)

    def _expectation_failure(self, case: Case) -> str | None:
        wrong = [c for c, want in case.expect.items() if self.flagged(case.text, c) != want]
        return "; ".join(self.decision(case.text, c) for c in wrong) or None

    def _invariance_failure(self, case: Case) -> str | None:
        compared = [case.category] if case.category else self.categories
        changed = [
            c for c in compared if self.flagged(case.text, c) != self.flagged(case.variant, c)
        ]
        details = [
            f"{self.decision(case.text, c)} -> {self.decision(case.variant, c)}" for c in changed
        ]
        return "; ".join(details) or None

    def _direction_failure(self, case: Case) -> str | None:
        before = self.score(case.text, case.category)
        after = self.score(case.variant, case.category)
        if after > before:
            return None
        return f"{case.category} {before:.2f} -> {after:.2f}, did not rise"


def run_suite(
    predict: Callable[[list[str]], np.ndarray],
    categories: list[str],
    thresholds: dict[str, float],
    cases: list[Case],
    max_failures: int = 3,
) -> dict:
    """Run ``cases`` against a model: ``predict`` is called once, with every distinct text and
    variant, and gives sigmoid scores [n, len(categories)]. Accuracy per functionality and over
    all cases, with up to ``max_failures`` failed examples per functionality."""
    missing = [c for c in categories if c not in thresholds]
    if missing:
        raise ModpipeError(f"no decision threshold for: {', '.join(missing)}")
    texts = list(
        dict.fromkeys(t for case in cases for t in (case.text, case.variant) if t is not None)
    )
    judge = _Judge(texts, _scores(predict, texts, categories), categories, thresholds)
    functionalities: dict[str, dict] = {}
    for case in cases:
        entry = functionalities.setdefault(
            case.functionality,
            {
                "kind": case.kind,
                "group": functionality_group(case),
                "accuracy": 0.0,
                "cases": 0,
                "passed": 0,
                "failures": [],
            },
        )
        detail = judge.failure(case)
        entry["cases"] += 1
        if detail is None:
            entry["passed"] += 1
        elif len(entry["failures"]) < max_failures:
            entry["failures"].append({"text": case.text, "variant": case.variant, "detail": detail})
    for entry in functionalities.values():
        entry["accuracy"] = entry["passed"] / entry["cases"]
    passed = sum(entry["passed"] for entry in functionalities.values())
    return {
        "overall": {
            "accuracy": passed / len(cases) if cases else float("nan"),
            "cases": len(cases),
            "passed": passed,
        },
        "functionalities": functionalities,
        "skipped_categories": skipped_categories(categories),
    }


def suite_training_rows(cases: list[Case], categories: list[str]) -> pd.DataFrame:
    """The mft cases as canonical training rows: their expectations as labels (1/0), unknown
    for the categories a case does not judge. inv and dir cases fix no label and are left out;
    a text already taken keeps its first case's labels."""
    records, seen = [], set()
    for case in cases:
        if case.kind != "mft" or case.text in seen:
            continue
        seen.add(case.text)
        labels = {c: int(case.expect[c]) if c in case.expect else None for c in categories}
        records.append(
            {
                "id": f"behaviour-{len(records)}",
                "text": case.text,
                "source": SUITE_SOURCE,
                "labels": labels,
            }
        )
    return rows_frame(records, categories)
