"""Hard-example mining: strategies that choose what to annotate next, and a bandit that shares
each round's annotation budget between them by what their picks turned out to be worth."""

from typing import Literal

# What a pick's yield counts (rewards.py). Here, free of numpy, so the command line can name it.
Reward = Literal["errors", "violations_and_errors"]
