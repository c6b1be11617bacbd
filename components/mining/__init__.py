"""Hard-example mining: strategies that choose what to annotate next, and a bandit that shares
each round's annotation budget between them by what their picks turned out to be worth."""
