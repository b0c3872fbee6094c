"""Judge pages: the project's pinned judges, the form that adds one, and polling a "Try it" preview (admins only)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.core.forms import form_add_service_error
from apps.core.htmx import HTMX_STOP_POLLING, is_partial
from apps.judges.forms import JudgeCreateForm
from apps.judges.selectors import judge_list, judge_preview_get
from apps.judges.services import judge_create
from apps.projects.access import is_project_admin, project_view
from apps.projects.models import Membership, Project

ADMIN = Membership.Role.ADMIN
TEMPLATE = "judges/judge_list.html"


def _context(project: Project, form: JudgeCreateForm) -> dict[str, Any]:
    judges = judge_list(project=project)
    return {
        "project": project,
        "nav": "judges",
        "judges": judges,
        "form": form,
        "is_admin": is_project_admin(project=project),
    }


@project_view()
def judge_list_view(request: HttpRequest, project: Project) -> HttpResponse:
    """List the project's judges: endpoint, pinned model, where the key comes from (never the key)."""
    return render(request, TEMPLATE, _context(project, JudgeCreateForm()))


@require_POST
@project_view(min_role=ADMIN)
def judge_create_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Pin a new judge; htmx gets the judges fragment (400 with inline errors when invalid)."""
    form = JudgeCreateForm(request.POST)
    created = False
    if form.is_valid():
        data = form.cleaned_data
        try:
            judge_create(
                project=project,
                name=data["name"],
                base_url=data["base_url"],
                model=data["model"],
                api_key=data["api_key"],
                api_key_env=data["api_key_env"],
                timeout_s=data["timeout_s"],
                input_price_per_mtok=data["input_price_per_mtok"],
                output_price_per_mtok=data["output_price_per_mtok"],
            )
        except ValidationError as exc:
            form_add_service_error(form, exc)
        else:
            created = True
    if created and not is_partial(request):
        return redirect("judges:list", project_slug=project.slug)
    context = _context(project, JudgeCreateForm() if created else form)
    template = TEMPLATE + ("#judges" if is_partial(request) else "")
    return render(request, template, context, status=200 if created else 400)


@require_GET
@project_view(min_role=ADMIN)
def judge_preview_status_view(request: HttpRequest, project: Project, preview_id: int) -> HttpResponse:
    """Return a "Try it" judge preview's verdicts so far; 286 once it has finished, which stops the polling."""
    preview = judge_preview_get(project=project, preview_id=preview_id)
    if preview is None:
        raise Http404("No such preview in this project.")
    response = render(request, "judges/_preview_status.html", {"project": project, "judge_preview": preview})
    if preview.is_finished:
        response.status_code = HTMX_STOP_POLLING
    return response
