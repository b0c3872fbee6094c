"""Tenancy: projects, their members and roles, and project API keys."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import BaseModel


class Project(BaseModel):
    """A tenant: every trace, score, rule and key belongs to exactly one project."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    # Retention, in whole UTC days (months for rollups): the hourly data-lifecycle job drops or deletes older rows.
    retention_traces_days = models.PositiveIntegerField(default=30, db_default=30)  # raw traces and spans
    retention_scores_days = models.PositiveIntegerField(default=90, db_default=90)
    retention_rollups_months = models.PositiveIntegerField(default=13, db_default=13)  # read by the rollups' expiry

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def role_at_least(role: str | None, min_role: str) -> bool:
    """Return whether a member with `role` (None: not a member) has at least `min_role`."""
    if role is None:
        return False
    return ROLE_RANK[Membership.Role(role)] >= ROLE_RANK[Membership.Role(min_role)]


class Membership(BaseModel):
    """A user's role in a project."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        REVIEWER = "reviewer", "Reviewer"
        VIEWER = "viewer", "Viewer"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="proj_uniq_membership"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


ROLE_RANK = {Membership.Role.VIEWER: 0, Membership.Role.REVIEWER: 1, Membership.Role.ADMIN: 2}


class ApiKey(BaseModel):
    """A project API key; only its SHA-256 is stored, the secret is shown once at creation."""

    class Scope(models.TextChoices):
        WRITE = "write", "Ingest and read"
        READ = "read", "Read only"
        # Configuration (judges, evaluators, rules, channels) as well as ingest and read.
        ADMIN = "admin", "Admin (configuration, ingest and read)"
        # Sends end-user feedback only; safe to ship in a browser (the feedback API accepts it).
        FEEDBACK = "feedback", "Feedback only"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.WRITE)
    # The visible part of the key (e.g. "sl_w_3fa9c2d1"): shown in lists, used to find the row.
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "-created_at"], name="proj_apikey_list")]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Invitation(BaseModel):
    """A one-time link that lets someone join a project with a role; only the token's SHA-256 is stored."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=Membership.Role.choices, default=Membership.Role.VIEWER)
    email = models.EmailField(blank=True, default="")  # a note for the admin: links are not mailed
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # The settings page lists a project's open invitations, newest first.
        indexes = [models.Index(fields=["project", "-created_at"], name="proj_invitation_list")]

    def __str__(self) -> str:
        return f"invitation to {self.project} as {self.role}"
