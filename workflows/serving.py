"""Which bento `modpipe serve` serves: a tag, an exported bento, or the registry's champion's."""

from __future__ import annotations

from components.errors import ModpipeError


def served_bento(tag: str | None, source: str | None) -> tuple[str, str]:
    """The bento tag to serve and where it came from, in words. The champion's bento is
    imported from the bento store when this machine's BentoML store lacks it."""
    from components.registry.bentos import import_bento, resolve_bento

    if tag:
        return resolve_bento(tag), "as asked"
    if source:
        return import_bento(source), f"imported from {source}"
    from components.registry.models import champion_bento
    from components.registry.tracking import setup_tracking

    setup_tracking()
    tag, uri = champion_bento()
    try:
        return resolve_bento(tag), "the champion's bento"
    except ModpipeError:
        if not uri:
            raise
    return import_bento(uri), f"the champion's bento, imported from {uri}"
