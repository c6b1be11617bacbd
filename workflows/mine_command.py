"""``modpipe mine``: choose the next items to annotate, and learn from the labelled ones."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from components.errors import ModpipeError
from components.mining import Reward

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
BATCH_SUFFIXES = (".csv", ".jsonl")


def mine(
    model: str | None = typer.Option(
        None, help="The model: a folder, models:/NAME@ALIAS, models:/NAME/VERSION or a bento tag."
    ),
    data: Path | None = typer.Option(
        None,
        help="Items as a canonical dataset folder: rows without labels are candidates, "
        "labelled rows can be re-reviewed (label_errors) and their violations anchor "
        "near_misses.",
    ),
    pool: Path | None = typer.Option(
        None, help="Items as a pool file (.jsonl, .csv or .parquet) with id and text columns."
    ),
    batch: int | None = typer.Option(None, "--batch", "-b", help="Items to pick this round."),
    state: Path = typer.Option(
        ..., help="The bandit's state (JSON); made on the first round, updated every round."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="The batch to write: a .csv or .jsonl file."
    ),
    strategies: str | None = typer.Option(
        None,
        help="Comma-separated, for a new state: uncertainty, disagreement, label_errors, "
        "diversity, near_misses (default: every one the items allow).",
    ),
    violations: Path | None = typer.Option(
        None, help="A pool file of texts known to violate: more anchors for near_misses."
    ),
    reward: Path | None = typer.Option(
        None,
        help="Record a finished round instead of mining: the batch file with its label_<category> "
        "columns filled in (1, 0 or empty), or a dataset folder holding its ids.",
    ),
    reward_on: Reward = typer.Option(
        "errors",
        help="For a new state, what pays a strategy: the model errors its picks reveal, or "
        "violations and errors alike.",
    ),
    seed: int = typer.Option(0, help="Seeds a new state's allocations and the label-error folds."),
    batch_size: int = typer.Option(64, min=1, help="Texts per forward pass."),
) -> None:
    """Pick a batch of items to annotate, shared between strategies by a bandit.

    A round, 1. mine: modpipe mine --model M --pool FILE --batch 100
    --state S --output batch.csv writes the batch (each item with the strategy
    that picked it and why) and leaves the round pending in S.

    2. label: fill in the batch's label_<category> columns (1, 0 or empty);
    a re-reviewed item's hold its current labels: correct or keep them.

    3. reward: modpipe mine --reward batch.csv --state S scores each strategy
    by the yield of its picks (model errors found, or with --reward-on
    violations_and_errors violations too), which shifts the next rounds'
    budget toward the strategies that pay.
    """
    from components.mining.bandit import load_state

    saved = load_state(state)
    if reward is not None:
        given = {"--model": model, "--data": data, "--pool": pool, "--batch": batch}
        given |= {"--output": output, "--strategies": strategies, "--violations": violations}
        extra = [name for name, value in given.items() if value is not None]
        if extra:
            raise ModpipeError(f"--reward records labels only: drop {', '.join(extra)}")
        if saved is None:
            raise ModpipeError(f"{state}: no such state file, so no round to reward")
        _record(saved, reward, state)
        return
    missing = [name for name, value in {"--model": model, "--batch": batch}.items() if not value]
    if output is None:
        missing.append("--output")
    if batch is not None and batch <= 0:
        raise ModpipeError(f"--batch must be at least 1, not {batch}")
    if missing:
        raise ModpipeError(f"mining needs {', '.join(missing)} (or --reward to record labels)")
    if output.suffix.lower() not in BATCH_SUFFIXES:
        raise ModpipeError(f"--output {output}: write the batch as .csv or .jsonl")
    options = {"seed": seed, "batch_size": batch_size, "reward": reward_on}
    _mine_round(saved, model, data, pool, batch, state, output, strategies, violations, options)


def _mine_round(saved, model, data, pool, batch, state, output, strategies, violations, options):
    """Read everything before the long work, then mine and write the batch and the state."""
    from components.mining.bandit import save_state
    from components.mining.batch import STRATEGIES
    from components.mining.select import mine as mine_batch
    from components.mining.select import read_items, write_batch
    from components.recall.pool import read_pool
    from components.registry.scoring import load_any_model

    chosen = _parse_strategies(strategies, list(STRATEGIES))
    items = read_items(data, pool)
    known = read_pool(violations)["text"].tolist() if violations else None
    loaded = load_any_model(model)
    with Progress(console=err_console, transient=True) as progress:
        frame, updated = mine_batch(
            loaded,
            items,
            batch,
            state=saved,
            chosen=chosen,
            violations=known,
            track=lambda steps, what, total: progress.track(steps, total, description=what),
            **options,
        )
    write_batch(frame, output)
    save_state(updated, state)
    _print_allocation(updated)
    console.print(f"wrote {len(frame)} items to {output} and the state to {state}", markup=False)


def _parse_strategies(text: str | None, known: list[str]) -> list[str] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise ModpipeError(
            f"--strategies {text!r}: unknown {', '.join(unknown) or 'empty list'}; "
            f"choose from {', '.join(known)}"
        )
    return list(dict.fromkeys(names))


def _print_allocation(state) -> None:
    pending = state.rounds[-1]
    table = Table(title=f"round {pending.number}: {len(pending.picks)} items")
    for heading in ("strategy", "share", "picks"):
        table.add_column(heading, justify="left" if heading == "strategy" else "right")
    for name in state.strategies:
        share = pending.probabilities[name]
        table.add_row(name, f"{share:.2f}", str(pending.allocation[name]))
    console.print(table)


def _record(saved, reward: Path, state: Path) -> None:
    from components.mining.bandit import probabilities, save_state
    from components.mining.feedback import record_labels

    updated, counts = record_labels(saved, reward)
    save_state(updated, state)
    finished = updated.rounds[-1]
    shares = probabilities(updated)
    table = Table(title=f"round {finished.number}: rewards")
    for heading in ("strategy", "labelled picks", "reward", "next share"):
        table.add_column(heading, justify="left" if heading == "strategy" else "right")
    for name in updated.strategies:
        value = finished.rewards.get(name)
        table.add_row(
            name,
            str(counts.get(name, 0)),
            "-" if value is None else f"{value:.2f}",
            f"{shares[name]:.2f}",
        )
    console.print(table)
    console.print(f"updated {state}", markup=False)
