"""What a command that publishes a dataset version says: where it went, its DVC version, and how
to bring the previous one back."""

from __future__ import annotations

import shlex

from rich.console import Console
from rich.markup import escape

console = Console(highlight=False, soft_wrap=True)


def report_publication(publication) -> None:
    """``publication``: a components.data.versioning publication (or restoration)."""
    directory = publication.directory
    console.print(f"wrote [bold]{escape(str(directory))}[/]")
    if publication.md5:
        console.print(f"DVC version: {publication.md5} ({directory.name}.dvc; commit it with git)")
    if publication.previous_md5:
        restore = f"modpipe data restore {shlex.quote(str(directory))} {publication.previous_md5}"
        console.print(
            f"the previous version ({publication.previous_md5}) stays in the DVC cache; "
            f"'{restore}' brings it back",
            markup=False,
        )
    if publication.backup:
        console.print(f"the previous dataset was moved to {publication.backup}", markup=False)
