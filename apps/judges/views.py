"""Judge pages: the project's pinned judges, one judge with its versions and calibration, and "Try it" polling."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.core.forms import form_add_service_error
from apps.core.htmx import HTMX_STOP_POLLING, is_partial
from apps.judges.calibration import calibration_start
from apps.judges.forms import JudgeCreateForm, JudgeEditForm
from apps.judges.models import Judge, JudgeVersion
from apps.judges.selectors import (
    SAMPLES,
    calibration_run_get,
    calibration_run_latest,
    judge_agreement,
    judge_agreement_series,
    judge_bias_probes,
    judge_get,
    judge_list,
    judge_preview_get,
    judge_regression,
    judge_version_diff,
    judge_version_list,
    shadow_live_comparison,
)
from apps.judges.services import (
    judge_connection_test,
    judge_create,
    judge_update,
    judge_version_current,
    judge_version_promote,
)
from apps.projects.access import is_project_admin, project_view
from apps.projects.models import Membership, Project

ADMIN = Membership.Role.ADMIN
TEMPLATE = "judges/judge_list.html"
DETAIL = "judges/judge_detail.html"
REGRESSION_WINDOW = timedelta(days=7)  # the judge-regression alert's window (apps/slis JUDGE_REGRESSION_WINDOW)


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


def _judge_or_404(project: Project, judge_id: int) -> Judge:
    judge = judge_get(project=project, judge_id=judge_id)
    if judge is None:
        raise Http404("No such judge in this project.")
    return judge


def _edit_form(judge: Judge) -> JudgeEditForm:
    return JudgeEditForm(
        initial={
            f: getattr(judge, f)
            for f in (
                "name",
                "base_url",
                "model",
                "rubric_criteria",
                "scale",
                "pass_threshold",
                "temperature",
                "max_tokens",
                "timeout_s",
                "regression_margin",
            )
        }
    )


def _detail_context(project: Project, judge: Judge, form: JudgeEditForm | None = None) -> dict[str, Any]:
    """Everything the judge page shows: versions and diffs, agreement, series, bias probes, shadows, mismatches."""
    current = judge_version_current(judge=judge)
    versions = judge_version_list(judge=judge)
    previous = {v.number: p for v, p in zip(versions, [*versions[1:], None], strict=True)}
    rows = []
    for version in versions:
        agreement = judge_agreement(judge_version=version)
        rows.append(
            {
                "version": version,
                "agreement": agreement,
                "primary": agreement[SAMPLES[0]],
                "changes": judge_version_diff(old=previous[version.number], new=version),
                "vs_current": judge_version_diff(old=current, new=version) if version.id != current.id else [],
                "live": shadow_live_comparison(judge_version=version)
                if version.status == JudgeVersion.Status.SHADOW
                else None,
            }
        )
    now = timezone.now()
    return {
        "project": project,
        "nav": "judges",
        "judge": judge,
        "current": current,
        "versions": rows,
        "shadows": [r for r in rows if r["version"].status == JudgeVersion.Status.SHADOW],
        "current_row": next(r for r in rows if r["version"].id == current.id),
        "series": judge_agreement_series(judge_version=current),
        "probes": judge_bias_probes(judge_version=current),
        "regression": judge_regression(project=project, judge_id=judge.id, start=now - REGRESSION_WINDOW, end=now),
        "mismatches": [v for v in versions if v.mismatch_count],
        "run": calibration_run_latest(judge_version=current),
        "form": form or _edit_form(judge),
        "is_admin": is_project_admin(project=project),
    }


@require_GET
@project_view()
def judge_detail_view(request: HttpRequest, project: Project, judge_id: int) -> HttpResponse:
    """One judge: its current version, agreement with people over time, bias probes, shadows and old versions."""
    judge = _judge_or_404(project, judge_id)
    return render(request, DETAIL, _detail_context(project, judge))


@require_POST
@project_view(min_role=ADMIN)
def judge_edit_view(request: HttpRequest, project: Project, judge_id: int) -> HttpResponse:
    """Save an edit: a new version when what the judge computes changed (400 with inline errors when invalid)."""
    judge = _judge_or_404(project, judge_id)
    form = JudgeEditForm(request.POST)
    if form.is_valid():
        try:
            judge_update(judge=judge, **form.cleaned_data)
        except ValidationError as exc:
            form_add_service_error(form, exc)
        else:
            return redirect("judges:detail", project_slug=project.slug, judge_id=judge.id)
    return render(request, DETAIL, _detail_context(project, judge, form), status=400)


@require_POST
@project_view(min_role=ADMIN)
def judge_active_view(request: HttpRequest, project: Project, judge_id: int) -> HttpResponse:
    """Deactivate a judge (it stops judging; its history stays) or activate it again."""
    judge = _judge_or_404(project, judge_id)
    judge_update(judge=judge, is_active=request.POST.get("is_active") == "1")
    return redirect("judges:detail", project_slug=project.slug, judge_id=judge.id)


@require_POST
@project_view(min_role=ADMIN)
def judge_promote_view(request: HttpRequest, project: Project, judge_id: int, number: int) -> HttpResponse:
    """Promote a shadow version: it becomes current and judges live traffic."""
    judge = _judge_or_404(project, judge_id)
    try:
        judge_version_promote(judge=judge, number=number)
    except ValidationError as exc:
        raise Http404(exc.messages[0]) from exc
    return redirect("judges:detail", project_slug=project.slug, judge_id=judge.id)


@require_POST
@project_view(min_role=ADMIN)
def judge_test_view(request: HttpRequest, project: Project, judge_id: int) -> HttpResponse:
    """Send one real request to the judge's endpoint and show its answer or its error (an htmx fragment)."""
    judge = _judge_or_404(project, judge_id)
    result = judge_connection_test(judge=judge)
    return render(request, DETAIL + "#test-result", {"project": project, "judge": judge, "test": result})


@require_POST
@project_view(min_role=ADMIN)
def judge_calibrate_view(request: HttpRequest, project: Project, judge_id: int) -> HttpResponse:
    """Queue a calibration run of the current version now; htmx gets the polled run status."""
    judge = _judge_or_404(project, judge_id)
    run = calibration_start(judge_version=judge_version_current(judge=judge), trigger="manual")
    if not is_partial(request):
        return redirect("judges:detail", project_slug=project.slug, judge_id=judge.id)
    return render(request, DETAIL + "#run-status", {"project": project, "judge": judge, "run": run})


@require_GET
@project_view()
def judge_calibration_status_view(request: HttpRequest, project: Project, judge_id: int, run_id: int) -> HttpResponse:
    """Return a calibration run's progress; 286 once it has finished, which stops the polling."""
    judge = _judge_or_404(project, judge_id)
    run = calibration_run_get(project=project, run_id=run_id)
    if run is None or run.judge_version.judge_id != judge.id:
        raise Http404("No such calibration run for this judge.")
    response = render(request, DETAIL + "#run-status", {"project": project, "judge": judge, "run": run})
    if run.is_finished:
        response.status_code = HTMX_STOP_POLLING
    return response
