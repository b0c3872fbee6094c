"""htmx helpers shared by the UI views."""

from __future__ import annotations

from django.http import HttpRequest

HTMX_STOP_POLLING = 286


def is_partial(request: HttpRequest) -> bool:
    """Return True for an htmx request that wants a fragment, not a boosted full page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted
