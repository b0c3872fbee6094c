"""Who may do what in a project: the view decorator, and the one admin check (UI sessions and API keys)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from apps.projects.models import ApiKey, Membership, Project, role_at_least
from apps.projects.selectors import ProjectPermissionDenied, project_get_for_user

ViewFunc = Callable[..., HttpResponse]


def is_project_admin(*, project: Project | None = None, api_key: ApiKey | None = None) -> bool:
    """Return whether the caller may change configuration: an admin-scoped API key, or the admin role.

    The one home of the admin check: the API's `AdminScopeForWrites` passes the request's key, the
    pages pass the project that `project_get_for_user` annotated with the user's role.
    """
    if api_key is not None:
        return api_key.scope == ApiKey.Scope.ADMIN
    return role_at_least(getattr(project, "user_role", None), Membership.Role.ADMIN)


def project_view(min_role: str = Membership.Role.VIEWER) -> Callable[[ViewFunc], ViewFunc]:
    """Require login and a role in the project; pass the project instead of its slug (404/403 otherwise)."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, project_slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                project = project_get_for_user(user=request.user, slug=project_slug, min_role=min_role)
            except ProjectPermissionDenied as exc:
                raise PermissionDenied(str(exc)) from exc  # the styled 403 page says which role is needed
            request.project = project  # type: ignore[attr-defined]
            return view(request, project, *args, **kwargs)

        return wrapper

    return decorator


def login_client_ip(request: HttpRequest) -> str:
    """Return the client address login throttling counts by (the proxy-appended hop when BEHIND_TLS_PROXY)."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if forwarded:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR", "")
