"""What a round's picks turned out to be worth, once labelled: the bandit's rewards.

A pick's yield, in [0, 1], is counted over the labels it did not have before: a violation is
found when one is revealed positive, a model error when one differs from the model's decision
at pick time. The state's ``reward`` says which count: ``errors`` (the default: what teaches
the model; on a pool that is mostly violations, counting violations favours strategies that
find many the model already gets right, which in the simulated labelling benchmark cost labels,
BENCHMARKS.md) or ``violations_and_errors`` (their mean, for a team that also wants the batch
to find violations). A re-reviewed label (``label_errors``) that is corrected yields
1 (a label error found); confirmed, it adds nothing.
"""

from __future__ import annotations

import math

from components.mining.bandit import Pick, Reward


def pick_yield(pick: Pick, revealed: dict[str, float], reward: Reward = "errors") -> float | None:
    """The yield of one pick; None where none of its labels was revealed (nan = not given)."""
    given = {name: int(value) for name, value in revealed.items() if not math.isnan(value)}
    if not given:
        return None
    if any(pick.known.get(name, value) != value for name, value in given.items()):
        return 1.0  # a label error found
    new = {name: value for name, value in given.items() if name not in pick.known}
    violation = any(value == 1 for value in new.values())
    error = any(value != (name in pick.flagged) for name, value in new.items())
    return float(error) if reward == "errors" else (violation + error) / 2


def round_rewards(
    picks: list[Pick], revealed: dict[str, dict[str, float]], reward: Reward
) -> tuple[dict[str, int], dict[str, float]]:
    """Per strategy: how many of its picks were labelled, and their mean yield. ``revealed``
    maps an item id to its labels; ids it lacks count as not labelled."""
    yields: dict[str, list[float]] = {}
    for pick in picks:
        value = pick_yield(pick, revealed.get(pick.id, {}), reward)
        if value is not None:
            yields.setdefault(pick.strategy, []).append(value)
    counts = {name: len(values) for name, values in yields.items()}
    return counts, {name: sum(values) / len(values) for name, values in yields.items()}
