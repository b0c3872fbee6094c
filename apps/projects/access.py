"""View decorator that resolves `project_slug` into a project the user may act in."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden

from apps.projects.models import Membership
from apps.projects.selectors import ProjectPermissionDenied, project_get_for_user

ViewFunc = Callable[..., HttpResponse]


def project_view(min_role: str = Membership.Role.VIEWER) -> Callable[[ViewFunc], ViewFunc]:
    """Require login and a role in the project; pass the project instead of its slug (404/403 otherwise)."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, project_slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                project = project_get_for_user(user=request.user, slug=project_slug, min_role=min_role)
            except ProjectPermissionDenied as exc:
                return HttpResponseForbidden(str(exc))
            request.project = project  # type: ignore[attr-defined]
            return view(request, project, *args, **kwargs)

        return wrapper

    return decorator
