"""Project pages: the landing redirect, creating projects, settings (API keys and members)."""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.forms import form_add_service_error
from apps.core.htmx import is_partial
from apps.projects.access import is_project_admin, project_view
from apps.projects.forms import (
    ApiKeyCreateForm,
    InvitationAcceptForm,
    InvitationCreateForm,
    MembershipForm,
    MembershipRoleForm,
    ProjectCreateForm,
    RetentionForm,
    UserCreateForm,
)
from apps.projects.models import Membership, Project
from apps.projects.selectors import (
    api_key_list,
    invitation_get_open,
    invitation_open_list,
    membership_list,
    project_list_for_user,
    project_storage_get,
)
from apps.projects.services import (
    api_key_create,
    api_key_revoke,
    invitation_accept,
    invitation_create,
    invitation_revoke,
    membership_remove,
    membership_role_set,
    membership_set,
    project_create,
    project_retention_set,
    user_create,
)

ADMIN = Membership.Role.ADMIN


@login_required
def home_view(request: HttpRequest) -> HttpResponse:
    """Send the user to their first project's home (its overview), or to the page that creates one."""
    project = project_list_for_user(user=request.user).first()
    if project is None:
        return redirect("projects:create")
    # By URL name: the overview belongs to apps.dashboards, which this lower app must not import.
    return redirect("dashboards:overview", project_slug=project.slug)


@login_required
def project_create_view(request: HttpRequest) -> HttpResponse:
    """Create a project owned by the current user."""
    form = ProjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_create(name=form.cleaned_data["name"], owner=request.user)
        except ValidationError as exc:
            form_add_service_error(form, exc)
        else:
            # A new project has no traces: start on the page that shows how to send the first one.
            return redirect("traces:onboarding", project_slug=project.slug)
    return render(request, "projects/project_create.html", {"form": form})


def _settings_context(request: HttpRequest, project: Project, **extra: object) -> dict[str, object]:
    return {
        "project": project,
        "api_keys": api_key_list(project=project),
        "members": membership_list(project=project),
        "key_form": extra.pop("key_form", ApiKeyCreateForm()),
        "member_form": extra.pop("member_form", MembershipForm()),
        "user_form": extra.pop("user_form", UserCreateForm()),
        "invite_form": extra.pop("invite_form", InvitationCreateForm()),
        "invitations": invitation_open_list(project=project),
        "roles": Membership.Role.choices,
        "retention_form": extra.pop(
            "retention_form",
            RetentionForm(
                initial={
                    "traces_days": project.retention_traces_days,
                    "scores_days": project.retention_scores_days,
                    "rollups_months": project.retention_rollups_months,
                }
            ),
        ),
        "storage": project_storage_get(project=project),
        "is_admin": is_project_admin(project=project),
        "nav": "settings",
        **extra,
    }


@project_view()
def project_settings_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Show the project's API keys and members; admins manage them here."""
    return render(request, "projects/project_settings.html", _settings_context(request, project))


@require_POST
@project_view(min_role=ADMIN)
def api_key_create_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Issue a key and show its secret once, in the keys fragment."""
    form = ApiKeyCreateForm(request.POST)
    new_key = None
    if form.is_valid():
        new_key = api_key_create(
            project=project, name=form.cleaned_data["name"], scope=form.cleaned_data["scope"], created_by=request.user
        )
        form = ApiKeyCreateForm()
    context = _settings_context(request, project, key_form=form, new_key=new_key)
    return _render_fragment(request, context, "api-keys", status=200 if new_key else 400)


@require_POST
@project_view(min_role=ADMIN)
def api_key_revoke_view(request: HttpRequest, project: Project, api_key_id: int) -> HttpResponse:
    """Revoke one key; its requests get 401 from now on."""
    api_key_revoke(project=project, api_key_id=api_key_id)
    return _render_fragment(request, _settings_context(request, project), "api-keys")


@require_POST
@project_view(min_role=ADMIN)
def membership_set_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Add a member or change a member's role."""
    form = MembershipForm(request.POST)
    ok = False
    if form.is_valid():
        try:
            membership_set(project=project, username=form.cleaned_data["username"], role=form.cleaned_data["role"])
            ok = True
            form = MembershipForm()
        except ValidationError as exc:
            form_add_service_error(form, exc)
    context = _settings_context(request, project, member_form=form)
    return _render_fragment(request, context, "members", status=200 if ok else 400)


@require_POST
@project_view(min_role=ADMIN)
def membership_remove_view(request: HttpRequest, project: Project, membership_id: int) -> HttpResponse:
    """Remove a member (never the last admin)."""
    member_error = ""
    try:
        membership_remove(project=project, membership_id=membership_id)
    except ValidationError as exc:
        member_error = "; ".join(exc.messages)
    context = _settings_context(request, project, member_error=member_error)
    return _render_fragment(request, context, "members", status=400 if member_error else 200)


@require_POST
@project_view(min_role=ADMIN)
def membership_role_view(request: HttpRequest, project: Project, membership_id: int) -> HttpResponse:
    """Change one member's role (never demoting the last admin)."""
    form = MembershipRoleForm(request.POST)
    member_error = ""
    if not form.is_valid():
        member_error = "Choose admin, reviewer or viewer."
    else:
        try:
            membership_role_set(project=project, membership_id=membership_id, role=form.cleaned_data["role"])
        except ValidationError as exc:
            member_error = "; ".join(exc.messages)
    context = _settings_context(request, project, member_error=member_error)
    return _render_fragment(request, context, "members", status=400 if member_error else 200)


@require_POST
@project_view(min_role=ADMIN)
def user_create_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Create a login with a role in this project and show its first password once."""
    form = UserCreateForm(request.POST)
    created = None
    if form.is_valid():
        try:
            created = user_create(
                project=project,
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
            )
            form = UserCreateForm()
        except ValidationError as exc:
            form_add_service_error(form, exc)
    context = _settings_context(request, project, user_form=form, created_user=created)
    return _render_fragment(request, context, "members", status=200 if created else 400)


@require_POST
@project_view(min_role=ADMIN)
def invitation_create_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Create a one-time invitation link with a role and show it once."""
    form = InvitationCreateForm(request.POST)
    link = ""
    if form.is_valid():
        issued = invitation_create(
            project=project, role=form.cleaned_data["role"], email=form.cleaned_data["email"], created_by=request.user
        )
        link = request.build_absolute_uri(reverse("projects:invitation-accept", kwargs={"token": issued.token}))
        form = InvitationCreateForm()
    context = _settings_context(request, project, invite_form=form, invitation_link=link)
    return _render_fragment(request, context, "members", status=200 if link else 400)


@require_POST
@project_view(min_role=ADMIN)
def invitation_revoke_view(request: HttpRequest, project: Project, invitation_id: int) -> HttpResponse:
    """Revoke an open invitation; its link stops working."""
    invitation_revoke(project=project, invitation_id=invitation_id)
    return _render_fragment(request, _settings_context(request, project), "members")


def invitation_accept_view(request: HttpRequest, token: str) -> HttpResponse:
    """Join a project through a one-time link: as the logged-in user, or as a new user created here."""
    invitation = invitation_get_open(token=token)
    if invitation is None:
        response = render(request, "projects/invitation_accept.html", {"invalid": True}, status=404)
        response["Cache-Control"] = "no-store"
        return response
    signed_in = request.user.is_authenticated
    form = InvitationAcceptForm(request.POST or None) if not signed_in else None
    error = ""
    if request.method == "POST" and (signed_in or (form is not None and form.is_valid())):
        try:
            if signed_in:
                invitation_accept(token=token, user=request.user)
            else:
                data = form.cleaned_data  # type: ignore[union-attr]
                membership = invitation_accept(
                    token=token, username=data["username"], password=data["password"], email=data["email"]
                )
                login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        except ValidationError as exc:
            if form is not None:
                form_add_service_error(form, exc)
            error = "; ".join(exc.messages)
        else:
            return redirect("traces:list", project_slug=invitation.project.slug)
    context = {"invitation": invitation, "form": form, "signed_in": signed_in, "error": error}
    response = render(
        request, "projects/invitation_accept.html", context, status=400 if request.method == "POST" else 200
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@project_view(min_role=ADMIN)
def project_retention_set_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Change how long the project keeps traces, scores and rollups."""
    form = RetentionForm(request.POST)
    ok = False
    if form.is_valid():
        try:
            project_retention_set(project=project, **form.cleaned_data)
            ok = True
        except ValidationError as exc:
            form_add_service_error(form, exc)
    extra = {"retention_saved": True} if ok else {"retention_form": form}
    context = _settings_context(request, project, **extra)
    return _render_fragment(request, context, "retention", status=200 if ok else 400)


def _render_fragment(
    request: HttpRequest, context: dict[str, object], fragment: str, status: int = 200
) -> HttpResponse:
    """Answer htmx with the fragment; a plain form post gets the settings page (redirected unless it shows a new key)."""
    if is_partial(request):
        response = render(request, f"projects/project_settings.html#{fragment}", context, status=status)
    elif status >= 400 or _shows_secret(context):
        # A new key's secret is shown in this one response and stored nowhere (not in the session,
        # not in a cache): a plain form post renders the page here instead of redirecting.
        response = render(request, "projects/project_settings.html", context, status=status)
    else:
        return redirect(reverse("projects:settings", kwargs={"project_slug": context["project"].slug}))  # type: ignore[union-attr]
    if _shows_secret(context):
        response["Cache-Control"] = "no-store"
    return response


def _shows_secret(context: dict[str, object]) -> bool:
    """Whether this answer carries something shown once (a key, a first password, an invitation link)."""
    return any(context.get(name) for name in ("new_key", "created_user", "invitation_link"))
