"""``modpipe annotate``: rationale annotation. Batches go out to Label Studio and come back as a
new dataset version; an LLM may draft rationales first, and its decisions are scored against
people's."""

from __future__ import annotations

import typer
from rich.console import Console

from workflows.annotate_labelstudio import export, import_
from workflows.annotate_llm import draft, score

console = Console(highlight=False, soft_wrap=True)

annotate_app = typer.Typer(
    help="Rationale annotation: Label Studio export and import, LLM drafts and their scores.",
    no_args_is_help=True,
)
annotate_app.command("export")(export)  # Label Studio: workflows/annotate_labelstudio.py
annotate_app.command("import")(import_)
annotate_app.command("draft")(draft)  # LLM drafts: workflows/annotate_llm.py
annotate_app.command("score")(score)
