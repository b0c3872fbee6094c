"""Template context: the demo banner's simulation, on the pages of a simulated project."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from apps.demo.selectors import demo_simulation_get

DEMO_PROJECT_SLUG = "demo"  # the project seed_demo creates (apps.projects.services.demo_seed)


def demo_simulation(request: HttpRequest) -> dict[str, object]:
    """Expose `demo_simulation` on the demo project's pages (queried only when the layout renders it).

    Only the demo project: other projects' pages make no query for a banner they never show.
    """
    project = getattr(request, "project", None)
    if project is None or project.slug != DEMO_PROJECT_SLUG:
        return {}
    return {"demo_simulation": SimpleLazyObject(lambda: demo_simulation_get(project=project))}
