"""Writes and rules for projects, memberships and API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.text import slugify

from apps.projects import keycache
from apps.projects.models import ROLE_RANK, ApiKey, Invitation, Membership, Project

# Only a hash of the secret is stored; the key is high-entropy, so a fast hash is safe here.
KEY_PREFIXES = {
    ApiKey.Scope.WRITE: "sl_w_",
    ApiKey.Scope.READ: "sl_r_",
    ApiKey.Scope.ADMIN: "sl_a_",
    ApiKey.Scope.FEEDBACK: "sl_f_",
}
# Writing last_used_at on every request would turn reads into writes; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class IssuedKey:
    """An API key as created: the row and the plaintext, which is never stored."""

    api_key: ApiKey
    plaintext: str


def key_hash(plaintext: str) -> str:
    """Return the stored digest of an API key."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def key_prefix(plaintext: str) -> str:
    """Return the visible lookup part of a key (scope marker plus 8 characters)."""
    return plaintext[:13]


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "project"
    slug, n = base, 2
    while Project.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def project_create(*, name: str, slug: str | None = None, owner: AbstractBaseUser | None = None) -> Project:
    """Create a project (unique slug derived from its name) and make the owner its admin."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A project needs a name."})
    if slug:
        slug = slugify(slug)
        if Project.objects.filter(slug=slug).exists():
            raise ValidationError({"slug": f"A project with slug {slug!r} exists already."})
    project = Project.objects.create(name=name, slug=slug or _unique_slug(name))
    if owner is not None:
        Membership.objects.create(project=project, user=owner, role=Membership.Role.ADMIN)
    # Higher apps (evaluators) add their defaults by dotted path: projects never imports them.
    for path in settings.PROJECT_CREATED_HOOKS:
        import_string(path)(project=project)
    return project


def api_key_create(
    *, project: Project, name: str, scope: str = ApiKey.Scope.WRITE, created_by: AbstractBaseUser | None = None
) -> IssuedKey:
    """Issue a new key for the project; the plaintext is returned once and never stored."""
    if scope not in KEY_PREFIXES:
        raise ValidationError({"scope": f"Unknown scope {scope!r}; use one of {', '.join(KEY_PREFIXES)}."})
    name = (name or "").strip() or "API key"
    for _ in range(5):
        plaintext = KEY_PREFIXES[scope] + secrets.token_hex(4) + secrets.token_urlsafe(30)
        try:
            with transaction.atomic():
                row = ApiKey.objects.create(
                    project=project,
                    name=name[:100],
                    scope=scope,
                    prefix=key_prefix(plaintext),
                    key_hash=key_hash(plaintext),
                    created_by=created_by,
                )
            return IssuedKey(api_key=row, plaintext=plaintext)
        except IntegrityError:  # a prefix collision: draw again
            continue
    raise RuntimeError("could not draw a unique API key prefix")


def api_key_revoke(*, project: Project, api_key_id: int) -> bool:
    """Revoke a key of the project; revoking twice is harmless. Return whether it changed."""
    updated = ApiKey.objects.filter(project=project, id=api_key_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if updated == 1:
        # Bump now and again after commit: a process that re-reads the key between the two (still active
        # before commit) would otherwise cache it under the new generation.
        keycache.api_keys_generation_bump()
        transaction.on_commit(keycache.api_keys_generation_bump)
    return updated == 1


def api_key_authenticate(*, plaintext: str, cached: bool = False) -> ApiKey | None:
    """Return the active key matching the plaintext (with its project), recording its use.

    With `cached=True` (the OTLP receivers) a key found active in the last few seconds is served from
    process memory (apps.projects.keycache) as long as no key was revoked since (a Redis generation,
    checked per call); without Redis every call reads the database.
    """
    if not plaintext or len(plaintext) < 20:
        return None
    digest = key_hash(plaintext)
    key_cache = keycache.key_cache if cached else None
    generation = None
    if key_cache is not None:
        lookup = key_cache.lookup(digest)
        row, generation = lookup.row, lookup.generation
        if row is not None:
            now = timezone.now()
            if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
                ApiKey.objects.filter(id=row.id).update(last_used_at=now)
                row.last_used_at = now
                key_cache.used(digest, now)
            return row
    row = ApiKey.objects.select_related("project").filter(prefix=key_prefix(plaintext)).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest) or row.revoked_at is not None:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(id=row.id).update(last_used_at=now)
        row.last_used_at = now
    if key_cache is not None:
        key_cache.put(digest, row, generation)
    return row


def membership_set(*, project: Project, username: str, role: str) -> Membership:
    """Add a user to the project with a role, or change the role of a member."""
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; use admin, reviewer or viewer."})
    user = get_user_model().objects.filter(username=username.strip()).first()
    if user is None:
        raise ValidationError({"username": f"No user named {username.strip()!r}."})
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


def membership_role_set(*, project: Project, membership_id: int, role: str) -> Membership:
    """Change a member's role, refusing to demote the project's last admin."""
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; use admin, reviewer or viewer."})
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(project=project, id=membership_id).first()
        if membership is None:
            raise ValidationError({"membership": "No such member in this project."})
        if membership.role == Membership.Role.ADMIN and role != Membership.Role.ADMIN:
            # Lock the admins so two concurrent demotions cannot leave the project without one.
            admins = list(Membership.objects.select_for_update().filter(project=project, role=Membership.Role.ADMIN))
            if len(admins) <= 1:
                raise ValidationError({"role": "A project keeps at least one admin."})
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
    return membership


@dataclass(frozen=True)
class CreatedUser:
    """A user created from a project's settings: the membership and the first password, shown once."""

    membership: Membership
    password: str


@transaction.atomic
def user_create(*, project: Project, username: str, role: str, email: str = "") -> CreatedUser:
    """Create a login with a random first password and give it a role in the project; the password is shown once."""
    username = username.strip()
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; use admin, reviewer or viewer."})
    user_model = get_user_model()
    username_field = user_model._meta.get_field("username")
    try:
        username_field.run_validators(username)
    except ValidationError as exc:
        raise ValidationError({"username": exc.messages}) from None
    if not username:
        raise ValidationError({"username": "A user needs a username."})
    if user_model.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": f"A user named {username!r} exists already; add them as a member."})
    password = secrets.token_urlsafe(12)
    user = user_model.objects.create_user(username=username, email=email.strip(), password=password)
    membership = Membership.objects.create(project=project, user=user, role=role)
    return CreatedUser(membership=membership, password=password)


INVITATION_TTL = timedelta(days=7)


@dataclass(frozen=True)
class IssuedInvitation:
    """An invitation as created: the row and the token of its link, which is never stored."""

    invitation: Invitation
    token: str


def invitation_create(
    *, project: Project, role: str, email: str = "", created_by: AbstractBaseUser | None = None
) -> IssuedInvitation:
    """Create a one-time invitation link to the project with a role, valid for INVITATION_TTL."""
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; use admin, reviewer or viewer."})
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        project=project,
        role=role,
        email=email.strip(),
        token_hash=key_hash(token),
        created_by=created_by,
        expires_at=timezone.now() + INVITATION_TTL,
    )
    return IssuedInvitation(invitation=invitation, token=token)


def invitation_revoke(*, project: Project, invitation_id: int) -> bool:
    """Revoke an open invitation of the project; return whether it changed."""
    return (
        Invitation.objects.filter(
            project=project, id=invitation_id, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        == 1
    )


def invitation_accept(
    *, token: str, user: AbstractBaseUser | None = None, username: str = "", password: str = "", email: str = ""
) -> Membership:
    """Use an invitation once: join the project as `user`, or as a new user with this username and password.

    The claim is a conditional UPDATE of the open, unexpired row, so a link works exactly once.
    """
    now = timezone.now()
    with transaction.atomic():
        open_rows = Invitation.objects.filter(
            token_hash=key_hash(token or ""), accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        )
        invitation = open_rows.select_related("project").select_for_update().first()
        if invitation is None:
            raise ValidationError({"token": "This invitation link is invalid, expired or already used."})
        if user is None:
            user_model = get_user_model()
            username = username.strip()
            if not username:
                raise ValidationError({"username": "Choose a username."})
            if user_model.objects.filter(username__iexact=username).exists():
                raise ValidationError({"username": f"The username {username!r} is taken; log in first if it is yours."})
            candidate = user_model(username=username, email=email.strip())
            try:
                user_model._meta.get_field("username").run_validators(username)
            except ValidationError as exc:
                raise ValidationError({"username": exc.messages}) from None
            try:
                validate_password(password, user=candidate)
            except ValidationError as exc:
                raise ValidationError({"password": exc.messages}) from None
            user = user_model.objects.create_user(username=username, email=email.strip(), password=password)
        open_rows.filter(id=invitation.id).update(accepted_at=now, accepted_by=user)
        membership, created = Membership.objects.get_or_create(
            project=invitation.project, user=user, defaults={"role": invitation.role}
        )
        if not created and role_rank(invitation.role) > role_rank(membership.role):
            membership.role = invitation.role  # an invitation never lowers a member's role
            membership.save(update_fields=["role", "updated_at"])
    return membership


def role_rank(role: str) -> int:
    """Return the rank of a role (viewer < reviewer < admin)."""
    return ROLE_RANK[Membership.Role(role)]


def membership_remove(*, project: Project, membership_id: int) -> None:
    """Remove a member, refusing to remove the project's last admin."""
    membership = Membership.objects.filter(project=project, id=membership_id).first()
    if membership is None:
        return
    if membership.role == Membership.Role.ADMIN:
        admins = Membership.objects.filter(project=project, role=Membership.Role.ADMIN).count()
        if admins <= 1:
            raise ValidationError({"membership": "A project keeps at least one admin."})
    membership.delete()


@dataclass(frozen=True)
class DemoSeed:
    """What demo_seed made: the admin login, the demo project, and a key when one was issued."""

    username: str
    password: str
    project: Project
    plaintext_key: str | None
    created: bool


@transaction.atomic
def demo_seed(*, username: str, password: str, email: str = "admin@example.com") -> DemoSeed:
    """Create the admin user and the demo project with a key, once; later calls change nothing."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    created = user is None
    if user is None:
        user = user_model.objects.create_superuser(username=username, email=email, password=password)
    project = Project.objects.filter(slug="demo").first()
    plaintext = None
    if project is None:
        project = project_create(name="Demo", slug="demo", owner=user)
        plaintext = api_key_create(project=project, name="demo ingest", created_by=user).plaintext
        created = True
    return DemoSeed(username=username, password=password, project=project, plaintext_key=plaintext, created=created)


RETENTION_LIMITS = {
    "retention_traces_days": (1, 3650),
    "retention_scores_days": (1, 3650),
    "retention_rollups_months": (1, 120),
}


def project_retention_set(*, project: Project, traces_days: int, scores_days: int, rollups_months: int) -> Project:
    """Change how long the project keeps its data; the hourly expiry job applies it."""
    values = {
        "retention_traces_days": traces_days,
        "retention_scores_days": scores_days,
        "retention_rollups_months": rollups_months,
    }
    errors = {}
    for field, value in values.items():
        low, high = RETENTION_LIMITS[field]
        if not low <= value <= high:
            errors[field] = f"must be between {low} and {high}"
    if errors:
        raise ValidationError(errors)
    for field, value in values.items():
        setattr(project, field, value)
    project.save(update_fields=[*values, "updated_at"])
    return project
