"""Template context: the projects the user can switch between, each linked to the page the user is on."""

from __future__ import annotations

import re

from django.http import HttpRequest
from django.urls import get_script_prefix
from django.utils.functional import SimpleLazyObject

from apps.projects.selectors import project_list_for_user

# /p/<slug>/<section>/… : switching projects keeps the section (traces, evaluators, judges, settings, …);
# an object inside it (a trace, an evaluator) belongs to one project, so the switch lands on the section's page.
PROJECT_PATH = re.compile(r"^/p/[-a-zA-Z0-9_]+/(?P<section>[-a-zA-Z0-9_]+)/")


def project_switch_url(*, path_info: str, slug: str) -> str:
    """Return the URL of the page `path_info` shows, in the project `slug` (its traces when not on a project page)."""
    match = PROJECT_PATH.match(path_info)
    section = match.group("section") if match else "traces"
    return f"{get_script_prefix()}p/{slug}/{section}/"


def current_project(request: HttpRequest) -> dict[str, object]:
    """Expose the user's projects for the project switcher in the base layout (queried only when rendered)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def projects() -> list[object]:
        rows = list(project_list_for_user(user=user))
        for project in rows:
            project.switch_url = project_switch_url(path_info=request.path_info, slug=project.slug)  # type: ignore[attr-defined]
        return rows

    return {"switcher_projects": SimpleLazyObject(projects)}
