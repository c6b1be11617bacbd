"""EXP3 over mining strategies: how much of each round's annotation budget each one gets.

EXP3 rather than Thompson sampling: a strategy's yield drifts from round to round (the model
improves, the easy violations are found first, strategies compete for the same items), and
EXP3 assumes nothing about stationarity; its exploration floor keeps every strategy sampled,
so one that starts paying off later is noticed.

Each round the budget B is drawn from the strategies' probabilities (a multinomial, seeded by
the state's seed and the round number, so a round is reproducible). Once the round's picks are
labelled, each strategy's reward (the mean yield of its picks, in [0, 1]) updates its weight by
the importance-weighted estimate ``share / probability * reward``, whose expectation is the
reward itself. The state is a pydantic model kept as JSON between rounds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from components.errors import ModpipeError
from components.mining import Reward

EXPLORATION = 0.2  # share of the budget spread evenly over the strategies
# Rounds are few (tens, not thousands): at a rate of 1, a strategy yielding 0.3 more per pick
# than another holds about 2.5 times its weight after three rounds.
LEARNING_RATE = 1.0


class Pick(BaseModel):
    """One item of a batch: who picked it, and what was known when it was picked."""

    id: str
    strategy: str
    flagged: list[str] = []  # categories the model flagged at its thresholds
    known: dict[str, int] = {}  # labels the item already had (a label_errors pick)


class Round(BaseModel):
    number: int
    probabilities: dict[str, float]
    allocation: dict[str, int]  # picks per strategy, as made
    picks: list[Pick]
    rewards: dict[str, float] | None = None  # per strategy, once the picks are labelled


class BanditState(BaseModel):
    strategies: list[str] = Field(min_length=1)
    categories: list[str] = Field(min_length=1)
    seed: int = 0
    exploration: float = Field(default=EXPLORATION, gt=0.0, le=1.0)
    learning_rate: float = Field(default=LEARNING_RATE, gt=0.0)
    reward: Reward = "errors"
    log_weights: dict[str, float] = {}
    rounds: list[Round] = []

    @property
    def pending(self) -> Round | None:
        """The last round, while its picks wait for their labels."""
        return self.rounds[-1] if self.rounds and self.rounds[-1].rewards is None else None


def new_state(
    strategies: list[str],
    categories: list[str],
    seed: int = 0,
    reward: Reward = "errors",
) -> BanditState:
    return BanditState(
        strategies=strategies,
        categories=categories,
        seed=seed,
        reward=reward,
        log_weights=dict.fromkeys(strategies, 0.0),
    )


def probabilities(state: BanditState) -> dict[str, float]:
    """EXP3's mix of the weights' softmax and the uniform exploration floor."""
    logs = np.array([state.log_weights[name] for name in state.strategies])
    weights = np.exp(logs - logs.max())
    mixed = (1 - state.exploration) * weights / weights.sum() + state.exploration / len(logs)
    return dict(zip(state.strategies, mixed.tolist(), strict=True))


def allocate(state: BanditState, budget: int) -> dict[str, int]:
    """The next round's budget per strategy: a seeded multinomial draw of ``budget`` picks."""
    rng = np.random.default_rng([state.seed, len(state.rounds)])
    shares = probabilities(state)
    counts = rng.multinomial(budget, list(shares.values()))
    return dict(zip(state.strategies, counts.tolist(), strict=True))


def start_round(state: BanditState, picks: list[Pick]) -> BanditState:
    """The state with a new pending round of these picks."""
    allocation = dict.fromkeys(state.strategies, 0)
    for pick in picks:
        allocation[pick.strategy] += 1
    round_ = Round(
        number=len(state.rounds) + 1,
        probabilities=probabilities(state),
        allocation=allocation,
        picks=picks,
    )
    return state.model_copy(update={"rounds": [*state.rounds, round_]})


def update(state: BanditState, picked: dict[str, int], rewards: dict[str, float]) -> BanditState:
    """The state once the pending round is labelled: ``picked`` counts each strategy's
    labelled picks, ``rewards`` their mean yield (a strategy that picked nothing learns
    nothing)."""
    pending = state.pending
    if pending is None:
        raise ModpipeError("no round is waiting for labels: mine a batch first")
    total = sum(picked.values())
    if total == 0:
        raise ModpipeError("none of the round's picks has a label yet: nothing to learn from")
    shares = pending.probabilities
    log_weights = dict(state.log_weights)
    for name, count in picked.items():
        if count:
            estimate = count / total / shares[name] * rewards[name]
            log_weights[name] += state.learning_rate * estimate
    rounds = [*state.rounds[:-1], pending.model_copy(update={"rewards": rewards})]
    return state.model_copy(update={"log_weights": log_weights, "rounds": rounds})


def load_state(path: Path) -> BanditState | None:
    """The saved state, or None where there is none yet (the first round)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return BanditState.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ModpipeError(f"{path}: cannot be read ({err})") from None
    except ValidationError as err:
        problem = err.errors()[0]
        where = ".".join(map(str, problem["loc"])) or "(top)"
        raise ModpipeError(f"{path}: not a mining state ({where}: {problem['msg']})") from None


def save_state(state: BanditState, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(state.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path
