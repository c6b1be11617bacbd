"""Which bento `modpipe serve` serves: a tag, an exported bento, or the registry's champion's."""

from __future__ import annotations

from components.errors import ModpipeError


def _local_or_imported(tag: str, uri: str) -> tuple[str, str]:
    from components.registry.bentos import import_bento, resolve_bento

    try:
        return resolve_bento(tag), "the champion's bento"
    except ModpipeError:
        if not uri:
            raise
    return import_bento(uri), f"the champion's bento, imported from {uri}"


def served_bento(tag: str | None, source: str | None) -> tuple[str, str]:
    """The bento tag to serve and where it came from, in words."""
    from components.registry.bentos import import_bento, resolve_bento

    if tag:
        return resolve_bento(tag), "as asked"
    if source:
        return import_bento(source), f"imported from {source}"
    from components.registry.models import champion_bento
    from components.registry.tracking import setup_tracking

    setup_tracking()
    return _local_or_imported(*champion_bento())
