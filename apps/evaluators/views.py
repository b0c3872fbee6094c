"""Evaluator pages: the list with 24 h pass rates, create/edit with a live preview, and backfills that poll."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.core.forms import form_add_service_error
from apps.core.htmx import HTMX_STOP_POLLING, is_partial
from apps.evaluators.forms import KIND_HELP, BackfillForm, EvaluatorForm, config_example, config_options
from apps.evaluators.models import Backfill, Evaluator
from apps.evaluators.selectors import (
    backfill_get,
    backfill_list,
    evaluator_get,
    evaluator_list_figures,
    evaluator_metric_specs,
    evaluator_version_history,
    judge_request_failed_list,
)
from apps.evaluators.services import (
    Preview,
    backfill_start,
    dead_letter_act,
    evaluator_create,
    evaluator_preview,
    evaluator_rescore,
    evaluator_update,
)
from apps.projects.access import is_project_admin, project_view
from apps.projects.models import Membership, Project
from apps.traces.selectors import ingest_batch_failed_list

ADMIN = Membership.Role.ADMIN
LIST_TEMPLATE = "evaluators/evaluator_list.html"
FORM_TEMPLATE = "evaluators/evaluator_form.html"


def _is_admin(project: Project) -> bool:
    return is_project_admin(project=project)


@project_view()
def evaluator_list_view(request: HttpRequest, project: Project) -> HttpResponse:
    """List the project's evaluators with the last 24 h of scores of their current and previous versions."""
    rows = evaluator_list_figures(project=project, hours=24)
    # Each evaluator's newest backfill (running, or finished with its figures) goes in its re-score cell.
    latest = {b.evaluator_id: b for b in reversed(backfill_list(project=project, limit=50))}
    for row in rows:
        row.evaluator.rescore = latest.get(row.evaluator.id)
    context = {"project": project, "nav": "evaluators", "rows": rows, "is_admin": _is_admin(project)}
    return render(request, LIST_TEMPLATE, context)


@require_POST
@project_view(min_role=ADMIN)
def evaluator_rescore_view(request: HttpRequest, project: Project, evaluator_id: int) -> HttpResponse:
    """Re-score the last 24 h or 7 d with the evaluator's current version; answer with the row's progress cell."""
    evaluator = _evaluator_or_404(project, evaluator_id)
    try:
        backfill = evaluator_rescore(evaluator=evaluator, window=request.POST.get("window", ""))
    except ValidationError as exc:
        return HttpResponse("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()), status=400)
    if not is_partial(request):
        return redirect("evaluators:list", project_slug=project.slug)
    evaluator.rescore = backfill
    return render(request, f"{LIST_TEMPLATE}#rescore-cell", {"project": project, "ev": evaluator, "is_admin": True})


@require_GET
@project_view()
def evaluator_rescore_status_view(request: HttpRequest, project: Project, backfill_id: int) -> HttpResponse:
    """Return a re-score's progress cell on the evaluators page; 286 once it has finished, which stops the polling."""
    backfill = backfill_get(project=project, backfill_id=backfill_id)
    if backfill is None:
        raise Http404("No such backfill in this project.")
    evaluator = backfill.evaluator
    evaluator.rescore = backfill
    context = {"project": project, "ev": evaluator, "is_admin": _is_admin(project)}
    response = render(request, f"{LIST_TEMPLATE}#rescore-cell", context)
    if backfill.is_finished:
        response.status_code = HTMX_STOP_POLLING
        response["HX-Refresh"] = "true"  # the row's 24 h figures now count the new version: reload them
    return response


@project_view(min_role=ADMIN)
def evaluator_create_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Define a new evaluator; a valid save returns to the list."""
    form = EvaluatorForm(request.POST or None, project=project)
    if request.method == "POST":
        if form.is_valid():
            try:
                evaluator_create(project=project, spec=form.to_spec())
            except ValidationError as exc:
                form_add_service_error(form, exc)
            else:
                return redirect("evaluators:list", project_slug=project.slug)
        return _form_page(request, project, form, status=400)
    return _form_page(request, project, form)


@project_view()
def evaluator_edit_view(request: HttpRequest, project: Project, evaluator_id: int) -> HttpResponse:
    """Show an evaluator's definition and backfills; admins change it here (a config change bumps the version)."""
    evaluator = _evaluator_or_404(project, evaluator_id)
    if request.method == "POST":
        if not _is_admin(project):
            return HttpResponseForbidden("Only project admins change evaluators.")
        form = EvaluatorForm(request.POST, project=project, evaluator=evaluator)
        if form.is_valid():
            try:
                evaluator_update(evaluator=evaluator, spec=form.to_spec())
            except ValidationError as exc:
                form_add_service_error(form, exc)
            else:
                return redirect("evaluators:list", project_slug=project.slug)
        return _form_page(request, project, form, evaluator=evaluator, status=400)
    form = EvaluatorForm(project=project, evaluator=evaluator)
    return _form_page(request, project, form, evaluator=evaluator)


@require_GET
@project_view()
def evaluator_kind_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Return the config fragment (example, options, help) for the kind chosen in the create form."""
    kind = request.GET.get("kind", "")
    if kind not in Evaluator.Kind.values:
        raise Http404("No such evaluator kind.")
    form = EvaluatorForm(project=project, initial={"kind": kind, "config": config_example(kind)})
    return render(request, f"{FORM_TEMPLATE}#kind-config", _form_context(project, form))


@require_POST
@project_view(min_role=ADMIN)
def evaluator_preview_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Run the submitted (unsaved) definition on the 20 most recent traces and show the form with the results."""
    evaluator = None
    if request.POST.get("evaluator_id"):
        evaluator = _evaluator_or_404(project, int(request.POST["evaluator_id"]))
    form = EvaluatorForm(request.POST, project=project, evaluator=evaluator)
    preview: Preview | None = None
    if form.is_valid():
        try:
            preview = evaluator_preview(project=project, spec=form.to_spec(), limit=20)
        except ValidationError as exc:
            form_add_service_error(form, exc)
    context = _form_context(project, form, evaluator=evaluator, preview=preview)
    status = 200 if preview is not None else 400
    template = FORM_TEMPLATE + ("#evaluator-form" if is_partial(request) else "")
    return render(request, template, context, status=status)


@require_POST
@project_view(min_role=ADMIN)
def backfill_start_view(request: HttpRequest, project: Project, evaluator_id: int) -> HttpResponse:
    """Start scoring past traces of a time range with the evaluator's current version; answer with its progress."""
    evaluator = _evaluator_or_404(project, evaluator_id)
    form = BackfillForm(request.POST)
    backfill: Backfill | None = None
    if form.is_valid():
        try:
            backfill = backfill_start(
                evaluator=evaluator, since=form.cleaned_data["since"], until=form.cleaned_data["until"]
            )
        except ValidationError as exc:
            form_add_service_error(form, exc)
    if not is_partial(request) and backfill is not None:
        return redirect("evaluators:edit", project_slug=project.slug, evaluator_id=evaluator.id)
    context = {
        "project": project,
        "evaluator": evaluator,
        "backfill": backfill,
        "backfill_form": form,
        "backfills": backfill_list(project=project, evaluator=evaluator),
        "oob": True,
    }
    return render(request, f"{FORM_TEMPLATE}#backfill-update", context, status=200 if backfill else 400)


@require_GET
@project_view()
def backfill_status_view(request: HttpRequest, project: Project, backfill_id: int) -> HttpResponse:
    """Return a backfill's progress; 286 once it has finished, which stops the polling."""
    backfill = backfill_get(project=project, backfill_id=backfill_id)
    if backfill is None:
        raise Http404("No such backfill in this project.")
    context = {
        "project": project,
        "evaluator": backfill.evaluator,
        "backfill": backfill,
        "backfills": backfill_list(project=project, evaluator=backfill.evaluator),
        "oob": True,
    }
    response = render(request, f"{FORM_TEMPLATE}#backfill-update", context)
    if backfill.is_finished:
        response.status_code = HTMX_STOP_POLLING
    return response


def _evaluator_or_404(project: Project, evaluator_id: int) -> Evaluator:
    evaluator = evaluator_get(project=project, evaluator_id=evaluator_id)
    if evaluator is None:
        raise Http404("No such evaluator in this project.")
    return evaluator


def _form_context(
    project: Project, form: EvaluatorForm, evaluator: Evaluator | None = None, preview: Preview | None = None
) -> dict[str, Any]:
    kind = form.kind_value
    context: dict[str, Any] = {
        "project": project,
        "nav": "evaluators",
        "form": form,
        "evaluator": evaluator,
        "kind": kind,
        "kind_help": KIND_HELP.get(kind, ""),
        "kind_options": config_options(kind),
        "is_admin": _is_admin(project),
        "preview": preview.rows if preview is not None else None,
        "judge_preview": preview.judge_preview if preview is not None else None,
    }
    if preview is not None:
        rows = preview.rows
        applicable = [row for row in rows if row.applies and row.result is not None]
        context["preview_summary"] = {
            "total": len(rows),
            "scored": len(applicable),
            "passed": sum(1 for row in applicable if row.result and row.result.passed is True),
            "failed": sum(1 for row in applicable if row.result and row.result.passed is False),
            "errors": sum(1 for row in rows if row.error),
        }
    return context


def _form_page(
    request: HttpRequest, project: Project, form: EvaluatorForm, evaluator: Evaluator | None = None, status: int = 200
) -> HttpResponse:
    context = _form_context(project, form, evaluator=evaluator)
    if evaluator is not None:
        backfills = backfill_list(project=project, evaluator=evaluator)
        context["backfills"] = backfills
        context["backfill_form"] = BackfillForm()
        context["versions"] = evaluator_version_history(project=project, evaluator=evaluator)
        context["spec"] = evaluator_metric_specs(project.pk, [evaluator.name]).get(evaluator.name)
        # Resume polling after a reload while the newest backfill still runs.
        context["backfill"] = next((b for b in backfills[:1] if not b.is_finished), None)
    return render(request, FORM_TEMPLATE, context, status=status)


DEAD_LETTERS_TEMPLATE = "evaluators/dead_letters.html"


def _dead_letters_context(project: Project, message: str = "") -> dict[str, Any]:
    return {
        "project": project,
        "nav": "dead-letters",
        "batches": ingest_batch_failed_list(project=project)[:200],
        "requests": judge_request_failed_list(project=project)[:200],
        "message": message,
    }


@require_GET
@project_view(min_role=ADMIN)
def dead_letter_list_view(request: HttpRequest, project: Project) -> HttpResponse:
    """List the project's failed ingest batches and judge requests, with their error, attempts and time."""
    template = DEAD_LETTERS_TEMPLATE + ("#dead-letters" if is_partial(request) else "")
    return render(request, template, _dead_letters_context(project))


@require_POST
@project_view(min_role=ADMIN)
def dead_letter_action_view(request: HttpRequest, project: Project, kind: str, row_id: int) -> HttpResponse:
    """Retry or discard one failed row; htmx gets the refreshed lists, a plain form post a redirect to them."""
    action = request.POST.get("action", "")
    try:
        changed = dead_letter_act(project=project, kind=kind, row_id=row_id, action=action)
    except ValidationError as exc:
        return HttpResponse("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()), status=400)
    if not is_partial(request):
        return redirect("evaluators:dead-letters", project_slug=project.slug)
    done = {"retry": "queued again", "discard": "discarded"}[action]
    message = f"{kind} {row_id} {done}" if changed else f"{kind} {row_id} is no longer failed"
    return render(request, f"{DEAD_LETTERS_TEMPLATE}#dead-letters", _dead_letters_context(project, message))
