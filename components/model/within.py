"""Categories within broader ones: ``{"hate": ["toxic"]}`` says hate speech is a kind of toxic
content, so a text is never more likely hate than toxic.

A head trained on scraped hate learns the groups that hate names: "Lucas is a friendly
homosexual" scores as hate while the toxic head, trained on far more varied abuse, reads it as
kind. Two rules keep the narrower head to the taxonomy:
- in training, a narrower positive is a positive of each broader category (at least as sure;
  certain where the broader label was unknown), so the broader head learns every kind of it;
- in scoring, each window's narrower logit is capped at its broader categories' highest (the
  sigmoid is monotone, so the probabilities keep the order too).
"""

import numpy as np

from components.errors import ModpipeError

Within = dict[str, list[str]]


def check_within(within: Within, categories: list[str]) -> None:
    """Refuse unknown categories and a category within itself, naming them."""
    named = set(within) | {broader for wider in within.values() for broader in wider}
    unknown = sorted(named - set(categories))
    if unknown:
        raise ModpipeError(
            f"within names categories the taxonomy lacks: {', '.join(unknown)} "
            f"(it has: {', '.join(categories)})"
        )
    circular = sorted(name for name, wider in within.items() if name in wider)
    if circular:
        raise ModpipeError(f"within: a category cannot be within itself: {', '.join(circular)}")


def _passes(within: Within, categories: list[str]) -> list[tuple[int, list[int]]]:
    """(narrower column, broader columns) for each rule, all repeated once per rule: a rule
    then sees what the rules after it changed (hate within toxic within abuse)."""
    rules = [
        (categories.index(name), [categories.index(b) for b in wider])
        for name, wider in within.items()
        if wider
    ]
    return rules * len(rules)


def lift_targets(
    targets: np.ndarray, known: np.ndarray, within: Within, categories: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """[n, k] targets and known mask with each narrower positive (a target of 0.5 or more) made
    a positive of its broader categories: their target at least the narrower's, 1 where unknown."""
    targets, known = targets.copy(), known.copy()
    for narrower, wider in _passes(within, categories):
        positive = (known[:, narrower] == 1) & (targets[:, narrower] >= 0.5)
        for broader in wider:
            was_known = known[positive, broader] == 1
            lifted = np.maximum(targets[positive, broader], targets[positive, narrower])
            targets[positive, broader] = np.where(was_known, lifted, 1.0)
            known[positive, broader] = 1
    return targets, known


def cap_logits(logits: np.ndarray, within: Within, categories: list[str]) -> np.ndarray:
    """[n, k] logits with each narrower category's at most its broader categories' highest."""
    if not within:
        return logits  # every model without rules scores through here: no copy
    capped = logits.copy()
    for narrower, wider in _passes(within, categories):
        capped[:, narrower] = np.minimum(capped[:, narrower], capped[:, wider].max(axis=1))
    return capped
