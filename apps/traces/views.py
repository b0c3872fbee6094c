"""Trace browser pages: the filtered trace list, one trace as a waterfall, and a span's detail panel."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode

from apps.core.htmx import is_partial
from apps.projects.access import project_view
from apps.projects.models import Project
from apps.traces.models import Span, Trace
from apps.traces.selectors import (
    FilterError,
    TraceFilters,
    span_tree,
    span_tree_flat,
    trace_facets,
    trace_get,
    trace_page,
    trace_score_list,
    traces_with_failed_scores,
)

LIST_TEMPLATE = "traces/trace_list.html"
DETAIL_TEMPLATE = "traces/trace_detail.html"
PAGE_SIZE = 50
FORM_FIELDS = (
    "since",
    "until",
    "route",
    "model",
    "prompt_version",
    "environment",
    "user_id",
    "session_id",
    "tag",
    "status",
    "has_feedback",
    "score",
    "q",
)


@project_view()
def trace_list_view(request: HttpRequest, project: Project) -> HttpResponse:
    """List the project's traces, newest first; htmx requests get only the rows (or only the next page)."""
    form = {name: request.GET.get(name, "").strip() for name in FORM_FIELDS}
    context: dict[str, object] = {
        "project": project,
        "nav": "traces",
        "form": form,
        "has_filters": any(form.values()),
        "rows": [],
        "next_url": "",
    }
    status = 200
    try:
        filters = TraceFilters.from_query(request.GET)
        rows, next_cursor = trace_page(
            project=project, filters=filters, cursor=request.GET.get("cursor", ""), limit=PAGE_SIZE
        )
    except FilterError as exc:
        context["filter_error"] = exc
        status = 400
    else:
        context["rows"] = traces_with_failed_scores(traces=rows)
        if next_cursor:
            context["next_url"] = "?" + urlencode({**filters.as_query(), "cursor": next_cursor})
    if is_partial(request):
        # "Load more" targets its own row and appends the next page in its place.
        fragment = "trace-page" if request.htmx.target == "load-more" and status == 200 else "trace-rows"  # type: ignore[attr-defined]
        return render(request, f"{LIST_TEMPLATE}#{fragment}", context, status=status)
    context["facets"] = trace_facets(project=project)
    return render(request, LIST_TEMPLATE, context, status=status)


@project_view()
def trace_detail_view(request: HttpRequest, project: Project, trace_id: str) -> HttpResponse:
    """Show one trace: its header, span waterfall, scores, and the root span's panel."""
    trace = _trace_or_404(project, trace_id)
    return _detail_page(request, project, trace, selected_span_id="")


@project_view()
def trace_span_view(request: HttpRequest, project: Project, trace_id: str, span_id: str) -> HttpResponse:
    """Return one span's detail panel for htmx; a plain request gets the trace page with that span selected."""
    trace = _trace_or_404(project, trace_id)
    if not is_partial(request):
        return _detail_page(request, project, trace, selected_span_id=span_id)
    # A single-row read through the trace's own relation, so it stays scoped to the project.
    span = trace.spans.filter(
        project_id=trace.project_id, partition_at=trace.partition_at, span_id=span_id.lower()
    ).first()
    if span is None:
        raise Http404("No such span in this trace.")
    context = {"project": project, "trace": trace, "span": span}
    return render(request, f"{DETAIL_TEMPLATE}#span-panel", context)


def _trace_or_404(project: Project, trace_id: str) -> Trace:
    """Return the project's trace or raise 404."""
    trace = trace_get(project=project, trace_id=trace_id)
    if trace is None:
        raise Http404("No such trace in this project.")
    return trace


def _detail_page(request: HttpRequest, project: Project, trace: Trace, selected_span_id: str) -> HttpResponse:
    """Render the full trace page with one span's panel open (the first span when none is chosen)."""
    nodes = span_tree_flat(roots=span_tree(trace=trace))
    span: Span | None = next((n.span for n in nodes if n.span.span_id == selected_span_id.lower()), None)
    if selected_span_id and span is None:
        raise Http404("No such span in this trace.")
    if span is None and nodes:
        span = nodes[0].span
    context = {
        "project": project,
        "nav": "traces",
        "trace": trace,
        "nodes": nodes,
        "span": span,
        "scores": trace_score_list(trace=trace),
    }
    return render(request, DETAIL_TEMPLATE, context)
