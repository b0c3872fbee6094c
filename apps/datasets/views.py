"""Dataset pages: the list (with offline runs), building one from reviewed failures, one dataset and its export,
and the trace page's "Add to dataset" fragment."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.core.htmx import is_partial
from apps.datasets.selectors import (
    dataset_export_lines,
    dataset_get,
    dataset_items,
    dataset_list,
    datasets_with_trace,
    failure_count,
    offline_run_list,
)
from apps.datasets.services import (
    FILTER_TEXT,
    ItemInput,
    dataset_create,
    dataset_filters_clean,
    dataset_items_add,
)
from apps.projects.access import project_view
from apps.projects.models import Membership, Project, role_at_least
from apps.traces.selectors import trace_get

FILTER_FIELDS = ("verdict", *FILTER_TEXT, "since", "until")


def _can_edit(project: Project) -> bool:
    """Reviewers and admins build datasets; viewers read them."""
    return role_at_least(getattr(project, "user_role", None), Membership.Role.REVIEWER)


@project_view()
def dataset_list_view(request: HttpRequest, project: Project) -> HttpResponse:
    """The project's datasets and its latest offline runs."""
    context = {
        "project": project,
        "nav": "datasets",
        "datasets": dataset_list(project=project)[:200],
        "runs": offline_run_list(project=project)[:50],
        "can_edit": _can_edit(project),
    }
    return render(request, "datasets/dataset_list.html", context)


@project_view()
def dataset_new_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Build a dataset from reviewed traces: the filters (prefilled from the URL), how many match, and a name."""
    source = request.POST if request.method == "POST" else request.GET
    raw = {k: source.get(k, "").strip() for k in FILTER_FIELDS if source.get(k, "").strip()}
    context: dict[str, object] = {"project": project, "nav": "datasets", "values": raw, "can_edit": _can_edit(project)}
    context["name"] = source.get("name", "").strip() or _suggested_name(raw)
    context["description"] = source.get("description", "").strip()
    status = 200
    try:
        filters = dataset_filters_clean(raw)
        context["matches"] = failure_count(project=project, filters=filters)
        if request.method == "POST":
            if not context["can_edit"]:
                raise ValidationError({"name": "only reviewers and admins build datasets"})
            dataset, _ = dataset_create(
                project=project, name=str(context["name"]), description=str(context["description"]), filters=filters
            )
            return redirect("datasets:detail", project_slug=project.slug, dataset_id=dataset.id)
    except ValidationError as exc:
        context["error"] = "; ".join(f"{k.removeprefix('filters.')}: {v[0]}" for k, v in exc.message_dict.items())
        status = 400
    template = "datasets/dataset_new.html" + ("#build-preview" if is_partial(request) else "")
    return render(request, template, context, status=status)


def _suggested_name(raw: dict[str, str]) -> str:
    bits = [raw.get("prompt_version", ""), raw.get("model", ""), raw.get("route", ""), raw.get("category", "")]
    verdict = raw.get("verdict", "fail")
    label = {"fail": "failures", "pass": "passes", "any": "labeled"}.get(verdict, "failures")
    return " ".join(b for b in [*bits, label] if b)


@project_view()
def dataset_detail_view(request: HttpRequest, project: Project, dataset_id: int) -> HttpResponse:
    """One dataset: its version, how it was built, its items and the export."""
    dataset = dataset_get(project=project, dataset_id=dataset_id)
    if dataset is None:
        raise Http404("No such dataset.")
    items = dataset_items(dataset=dataset)
    context = {
        "project": project,
        "nav": "datasets",
        "dataset": dataset,
        "items": items[:500],
        "item_count": items.count(),
        "versions": range(dataset.version, 0, -1),
        "api_export": request.build_absolute_uri(reverse("api-dataset-export", args=[dataset.id])),
        "runs": offline_run_list(project=project).filter(dataset=dataset)[:20],
    }
    return render(request, "datasets/dataset_detail.html", context)


@project_view()
def dataset_export_view(request: HttpRequest, project: Project, dataset_id: int) -> HttpResponse:
    """The JSONL export for a logged-in user (the API serves the same to API keys)."""
    dataset = dataset_get(project=project, dataset_id=dataset_id)
    if dataset is None:
        raise Http404("No such dataset.")
    raw = request.GET.get("version", "")
    version = int(raw) if raw.isdigit() and 1 <= int(raw) <= dataset.version else dataset.version
    lines = (
        json.dumps(row, ensure_ascii=False) + "\n" for row in dataset_export_lines(dataset=dataset, version=version)
    )
    response = StreamingHttpResponse(lines, content_type="application/x-ndjson; charset=utf-8")
    response["X-Sightline-Dataset-Version"] = str(version)
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in dataset.name)[:80]
    response["Content-Disposition"] = f'attachment; filename="{safe}-v{version}.jsonl"'
    return response


@project_view()
def trace_add_view(request: HttpRequest, project: Project, trace_id: str) -> HttpResponse:
    """The trace page's "Add to dataset" fragment; a POST adds the trace (to a chosen or a new dataset)."""
    trace = trace_get(project=project, trace_id=trace_id)
    if trace is None:
        raise Http404("No such trace.")
    context: dict[str, object] = {"project": project, "trace": trace, "can_edit": _can_edit(project)}
    status = 200
    if request.method == "POST" and context["can_edit"]:
        try:
            chosen = request.POST.get("dataset", "")
            new_name = request.POST.get("new_name", "").strip()
            if new_name:
                dataset, _ = dataset_create(project=project, name=new_name)
            elif chosen.isdigit() and (dataset := dataset_get(project=project, dataset_id=int(chosen))) is not None:
                pass
            else:
                raise ValidationError({"dataset": "choose a dataset or name a new one"})
            result = dataset_items_add(dataset=dataset, items=[ItemInput(trace_id=trace.trace_id)])
            context["added_to"] = dataset
            context["result"] = result
        except ValidationError as exc:
            context["error"] = "; ".join(f"{k}: {v[0]}" for k, v in exc.message_dict.items())
            status = 400
    context["datasets"] = dataset_list(project=project)[:200]
    context["holding"] = datasets_with_trace(project=project, trace_id=trace.trace_id)
    return render(request, "datasets/_trace_add_body.html", context, status=status)
