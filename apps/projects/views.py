"""Project pages: the landing redirect, creating projects, settings (API keys and members)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.forms import form_add_service_error
from apps.core.htmx import is_partial
from apps.projects.access import is_project_admin, project_view
from apps.projects.forms import ApiKeyCreateForm, MembershipForm, ProjectCreateForm
from apps.projects.models import Membership, Project
from apps.projects.selectors import api_key_list, membership_list, project_list_for_user
from apps.projects.services import (
    api_key_create,
    api_key_revoke,
    membership_remove,
    membership_set,
    project_create,
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
            return redirect("projects:settings", project_slug=project.slug)
    return render(request, "projects/project_create.html", {"form": form})


def _settings_context(request: HttpRequest, project: Project, **extra: object) -> dict[str, object]:
    return {
        "project": project,
        "api_keys": api_key_list(project=project),
        "members": membership_list(project=project),
        "key_form": extra.pop("key_form", ApiKeyCreateForm()),
        "member_form": extra.pop("member_form", MembershipForm()),
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


def _render_fragment(
    request: HttpRequest, context: dict[str, object], fragment: str, status: int = 200
) -> HttpResponse:
    """Answer htmx with the fragment; a plain form post gets the settings page (redirected unless it shows a new key)."""
    if is_partial(request):
        response = render(request, f"projects/project_settings.html#{fragment}", context, status=status)
    elif status >= 400 or context.get("new_key") is not None:
        # A new key's secret is shown in this one response and stored nowhere (not in the session,
        # not in a cache): a plain form post renders the page here instead of redirecting.
        response = render(request, "projects/project_settings.html", context, status=status)
    else:
        return redirect(reverse("projects:settings", kwargs={"project_slug": context["project"].slug}))  # type: ignore[union-attr]
    if context.get("new_key") is not None:
        response["Cache-Control"] = "no-store"
    return response
