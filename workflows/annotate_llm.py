"""``modpipe annotate draft`` and ``modpipe annotate score``: an LLM drafts rationales for a
batch, and its decisions are scored against people's labels."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from components.errors import ModpipeError

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def draft(
    batch: Path = typer.Argument(
        ...,
        help="The items: a .jsonl, .csv or .parquet file with id and text columns (a mined "
        "batch), or a canonical dataset folder.",
    ),
    endpoint: str = typer.Option(
        ..., help="An OpenAI-compatible API's base URL, e.g. http://127.0.0.1:8080/v1."
    ),
    model: str = typer.Option(..., help="The model name the endpoint serves."),
    output: Path = typer.Option(..., "--output", "-o", help="The drafts to write (.jsonl)."),
    taxonomy: Path | None = typer.Option(
        None,
        help="The categories and their policy texts (default: a dataset's own, else "
        "configs/taxonomy.yaml).",
    ),
    policy_version: str | None = typer.Option(
        None, help="The policy version judged against (default: a hash of the policy texts)."
    ),
    concurrency: int = typer.Option(4, min=1, help="Requests in flight at once."),
    max_tokens: int = typer.Option(1024, min=16, help="The longest answer, in tokens."),
    timeout: float = typer.Option(120.0, min=1, help="Seconds to wait for one answer."),
    retries: int = typer.Option(2, min=0, help="Retries of a request on connection errors/5xx."),
    response_format: str = typer.Option(
        "json_schema",
        help="json_schema (the answer constrained to the schema), json_object, or none for "
        "servers that support neither.",
    ),
    api_key_env: str = typer.Option(
        "MODPIPE_LLM_API_KEY", help="The environment variable holding the API key, if any."
    ),
) -> None:
    """Ask an LLM to judge each item against each category's policy and draft its rationale.

    Each line of the output is a rationale with the model's judgement (annotator llm:MODEL),
    or, where the answer is not the schema, the reason it is malformed and the answer's start.
    modpipe annotate export --drafts takes them as pre-annotations.
    """
    from components.annotation.llm import RESPONSE_FORMATS, Endpoint, draft_rationales, write_drafts

    if not endpoint.startswith(("http://", "https://")):
        raise ModpipeError(f"--endpoint {endpoint!r}: give an http:// or https:// URL")
    if response_format not in RESPONSE_FORMATS:
        raise ModpipeError(
            f"--response-format {response_format!r}: choose {', '.join(RESPONSE_FORMATS)}"
        )
    if output.suffix.lower() != ".jsonl":
        raise ModpipeError(f"--output {output}: drafts are written as .jsonl")
    from components.annotation.batch import policy_version as policy_hash
    from components.annotation.batch import read_batch
    from components.data.canonical import load_taxonomy

    items, card = read_batch(batch)
    judged_against = load_taxonomy(taxonomy) if taxonomy else card or load_taxonomy()
    version = policy_version or policy_hash(judged_against)
    settings = Endpoint(
        url=endpoint,
        model=model,
        api_key=os.environ.get(api_key_env) or None,
        timeout=timeout,
        retries=retries,
        max_tokens=max_tokens,
        response_format=response_format,
    )
    with Progress(console=err_console, transient=True) as progress:
        drafts = draft_rationales(
            items,
            judged_against,
            settings,
            version,
            concurrency,
            track=lambda steps, what, total: progress.track(steps, total, description=what),
        )
    write_drafts(drafts, output)
    malformed = sum("malformed" in draft for draft in drafts)
    console.print(
        f"drafted {len(drafts) - malformed}, malformed {malformed} (policy {version}) -> {output}",
        markup=False,
    )


def score(
    drafts: Path = typer.Argument(..., help="Drafts written by modpipe annotate draft."),
    against: Path = typer.Option(..., help="A canonical dataset with people's labels."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the scores here."),
) -> None:
    """Score a backend's decisions against people's labels (rows matched by id).

    Per category: precision, recall and F1 of violates against label 1, Cohen's kappa and raw
    agreement; and the coverage: shares answered, malformed and unsure. Unsure decisions and
    unknown labels are left out of the metrics.
    """
    from components.annotation.draft_scores import score_drafts
    from components.annotation.llm import read_drafts
    from components.data.canonical import read_dataset

    card, frame = read_dataset(against)
    scores = score_drafts(read_drafts(drafts), frame, card.names)
    _print_scores(scores)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {json_out}", markup=False)


def _shown(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print_scores(scores: dict) -> None:
    table = Table(title=f"{scores['matched']} of {scores['drafts']} drafts matched to rows")
    columns = ("precision", "recall", "f1", "kappa", "agreement")
    for heading in ("category", "pairs", "positives", *columns):
        table.add_column(heading, justify="left" if heading == "category" else "right")
    overall = {"positives": sum(s["positives"] for s in scores["categories"].values())}
    rows = [*scores["categories"].items(), ("all (pooled)", scores["overall"] | overall)]
    for name, values in rows:
        cells = [str(values["pairs"]), str(values["positives"])]
        table.add_row(name, *cells, *(_shown(values[column]) for column in columns))
    console.print(table)
    console.print(
        f"answered {scores['answered']:.1%}, malformed {scores['malformed']:.1%}, "
        f"unsure {scores['unsure']:.1%} of decisions; macro F1 "
        f"{_shown(scores['overall']['macro_f1'])}",
        markup=False,
    )
