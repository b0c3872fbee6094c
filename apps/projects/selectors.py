"""Reads for projects: access helpers every view goes through."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from apps.core.partitions import project_storage_estimate
from apps.projects.models import ApiKey, Invitation, Membership, Project, role_at_least
from apps.projects.services import key_hash


class ProjectPermissionDenied(Exception):
    """The user belongs to the project but their role does not allow the action."""


def project_list_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Project]:
    """Return the projects a user may open (superusers see all)."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all().order_by("name")
    return Project.objects.filter(memberships__user=user).order_by("name")


def project_role_for_user(*, project: Project, user: AbstractBaseUser) -> str | None:
    """Return the user's role in the project (superusers act as admins), or None."""
    if user.is_superuser:
        return Membership.Role.ADMIN
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def project_get_for_user(*, user: AbstractBaseUser, slug: str, min_role: str = Membership.Role.VIEWER) -> Project:
    """Return the project if the user may see it with at least min_role; 404 for outsiders."""
    project = Project.objects.filter(slug=slug).first()
    if project is None or not user.is_authenticated:
        raise Http404("No such project.")
    role = project_role_for_user(project=project, user=user)
    if role is None:
        raise Http404("No such project.")
    if not role_at_least(role, min_role):
        raise ProjectPermissionDenied(f"This needs the {min_role} role in {project.name}.")
    project.user_role = role  # type: ignore[attr-defined]  # read by templates
    return project


def api_key_list(*, project: Project) -> QuerySet[ApiKey]:
    """Return the project's keys, newest first."""
    return ApiKey.objects.filter(project=project).select_related("created_by").order_by("-created_at")


def membership_list(*, project: Project) -> QuerySet[Membership]:
    """Return the project's members with their users."""
    return Membership.objects.filter(project=project).select_related("user").order_by("user__username")


def invitation_open_list(*, project: Project) -> QuerySet[Invitation]:
    """Return the project's invitations that can still be used, newest first."""
    return Invitation.objects.filter(
        project=project, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).order_by("-created_at")


def invitation_get_open(*, token: str) -> Invitation | None:
    """Return the open, unexpired invitation behind a link's token (with its project), or None."""
    return (
        Invitation.objects.select_related("project")
        .filter(
            token_hash=key_hash(token or ""),
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .first()
    )


@dataclass(frozen=True)
class Retention:
    """How long a project keeps its data: raw traces and spans, scores (days), per-minute rollups (months)."""

    traces_days: int
    scores_days: int
    rollups_months: int


def project_retention_get(*, project: Project) -> Retention:
    """Return the project's retention settings (read by the expiry jobs, rollups' included)."""
    return Retention(project.retention_traces_days, project.retention_scores_days, project.retention_rollups_months)


def project_retention_list() -> dict[int, Retention]:
    """Return every project's retention, by project id (one query, for the expiry jobs)."""
    rows = Project.objects.values_list(
        "id", "retention_traces_days", "retention_scores_days", "retention_rollups_months"
    )
    return {pid: Retention(t, s, r) for pid, t, s, r in rows}


# What each partitioned table holds, as the settings page names it.
STORAGE_LABELS = {"traces_trace": "Traces", "traces_span": "Spans", "scores_score": "Scores"}


def project_storage_get(*, project: Project) -> list[tuple[str, int]]:
    """Estimated bytes on disk of the project's traces, spans and scores (see core.partitions), labelled."""
    sizes = project_storage_estimate(project_id=project.pk)
    return [(STORAGE_LABELS.get(table, table), size) for table, size in sizes.items()]
