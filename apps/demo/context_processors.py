"""Template context: the demo banner's simulation, on the pages of a simulated project."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from apps.demo.selectors import demo_simulation_get


def demo_simulation(request: HttpRequest) -> dict[str, object]:
    """Expose `demo_simulation` (queried only when the layout renders it) on project pages."""
    project = getattr(request, "project", None)
    if project is None:
        return {}
    return {"demo_simulation": SimpleLazyObject(lambda: demo_simulation_get(project=project))}
