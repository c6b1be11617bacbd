"""Cutting a dataset replacement short after its k-th file operation, as a Ctrl-C would (a
KeyboardInterrupt there) or as a kill would (the process ends on the spot, no handler runs).

The operations counted are the ones that change what is on disk: making, renaming and deleting
folders and files, opening a file for writing, the atomic exchange, and each DVC command.
Run as a script, in a process of its own, it publishes under such a cut: either a dataset
folder's content to a target, after repairing what an earlier cut left there (as the next run
would), or whatever a ``modpipe`` command line publishes:

    python tests/interrupts.py K interrupt|kill SOURCE TARGET [--no-exchange]
    python tests/interrupts.py K interrupt|kill --modpipe ARGS...
"""

from __future__ import annotations

import builtins
import io
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

OPEN = io.open  # builtins.open is the same function
KILLED = 99  # the exit status of a child cut short by a "kill"
COMPLETED = "completed"  # what a child prints when it ran out of operations before the k-th


class Cut:
    def __init__(self, at: int, how: str):
        self.at, self.how, self.count = at, how, 0

    @property
    def fired(self) -> bool:
        return self.count >= self.at

    def after(self, operation):
        def counted(*args, **kwargs):
            result = operation(*args, **kwargs)
            if self._counts(operation, args, kwargs):
                self.count += 1
                if self.count == self.at:
                    if self.how == "kill":
                        os._exit(KILLED)
                    raise KeyboardInterrupt
            return result

        return counted

    @staticmethod
    def _counts(operation, args, kwargs) -> bool:
        if operation is OPEN:  # reading changes nothing
            mode = kwargs.get("mode", args[1] if len(args) > 1 else "r")
            return any(flag in mode for flag in "wax+")
        return True


@contextmanager
def cut_short(at: int, how: str):
    """Within the block, stop after the ``at``-th file operation (``how``: interrupt or kill)."""
    from components.data import versioning

    cut = Cut(at, how)
    targets = [(os, name) for name in ("mkdir", "rename", "unlink", "rmdir")]
    targets += [(subprocess, "run"), (io, "open"), (builtins, "open")]
    if versioning._RENAMEAT2 is not None:
        targets.append((versioning, "_RENAMEAT2"))
    originals = [(module, name, getattr(module, name)) for module, name in targets]
    for module, name, original in originals:
        setattr(module, name, cut.after(original))
    try:
        yield cut
    finally:
        for module, name, original in originals:
            setattr(module, name, original)


def publish(at: int, how: str, source: str, target: str, *flags: str) -> None:
    from components.data import versioning
    from components.data.canonical import read_dataset

    if "--no-exchange" in flags:
        versioning._RENAMEAT2 = None  # as on a system without renameat2
    card, frame = read_dataset(Path(source))
    versioning.repair(Path(target))  # what the publication does first, not cut here
    try:
        with cut_short(at, how):
            versioning.publish_dataset(card, frame, Path(target))
    except versioning.Interrupted as interrupted:
        print(interrupted)
        sys.exit(130)
    print(COMPLETED)


def modpipe(at: int, how: str, *args: str) -> None:
    from workflows.cli import main

    sys.argv = ["modpipe", *args]
    with cut_short(at, how):
        main()


if __name__ == "__main__":
    at, how, *rest = sys.argv[1:]
    if rest[0] == "--modpipe":
        modpipe(int(at), how, *rest[1:])
    else:
        publish(int(at), how, *rest)
