"""Template context: the projects the user can switch between."""

from __future__ import annotations

from django.http import HttpRequest

from apps.projects.selectors import project_list_for_user


def current_project(request: HttpRequest) -> dict[str, object]:
    """Expose the user's projects for the project switcher in the base layout."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"switcher_projects": project_list_for_user(user=user)}
