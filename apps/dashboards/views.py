"""Dashboard pages: the project's overview (its home), the metric explorer, and the panel fragments they load.

Pages render their controls and their panels: the overview draws its panels in the page (one request, the
panels' shared reads made once); other pages place placeholders that load themselves (`hx-trigger="load"`) from
`panel_view`, which also answers a drawn panel's refresh. The whole state is in the query string: htmx requests from the controls get the
`#dashboard` fragment back and push the URL. A bad parameter is shown as a message with status 400.
"""

from __future__ import annotations

import re

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers

from apps.core.htmx import is_partial
from apps.dashboards.charts import direction_text, headline_label
from apps.dashboards.divergence import divergence_params  # importing it registers the divergence panels
from apps.dashboards.panels import (
    PANEL_PARAMS,
    Panel,
    PanelReads,
    PanelRequest,
    panel_kinds,
    panel_render,
    panels_place,
    quality_specs,
)
from apps.dashboards.state import (
    DIMENSION_LABELS,
    RANGE_LABELS,
    DashboardParamError,
    DashboardState,
    iso_utc,
)
from apps.datasets.selectors import offline_metric_names
from apps.projects.access import project_view
from apps.projects.models import Project
from apps.scores.metrics import BUILTIN_SPECS
from apps.scores.selectors import INTERVALS, metric_spec_list
from apps.traces.selectors import TraceFilters, trace_facets, trace_list

OVERVIEW_TEMPLATE = "dashboards/overview.html"
DIVERGENCE_TEMPLATE = "dashboards/divergence.html"
EXPLORER_TEMPLATE = "dashboards/explorer.html"
PANEL_TEMPLATE = "dashboards/_panel.html"
PANEL_ID = re.compile(r"^panel-[A-Za-z0-9_-]{1,120}$")
OVERVIEW_GROUP_BY = "prompt_version"  # a new prompt version shows as a step


def _controls(project: Project, state: DashboardState | None, params: dict[str, str]) -> dict[str, object]:
    """The range picker's, group-by's and filters' choices and current values."""
    facets = trace_facets(project=project)
    filter_rows = []
    for key, label in DIMENSION_LABELS.items():
        chosen = params.get(key, "")
        options = list(facets.get(key, []))
        if chosen and chosen not in options:
            options.append(chosen)  # a shared URL's filter stays visible even when it is no longer recent
        filter_rows.append({"key": key, "label": label, "options": options, "chosen": chosen})
    return {
        "filter_rows": filter_rows,
        "intervals": list(INTERVALS),
        "ranges": RANGE_LABELS,
        "dimensions": DIMENSION_LABELS,
        "current": params,
        "state": state,
        "start_text": iso_utc(state.start) if state else "",
        "end_text": iso_utc(state.end) if state else "",
    }


def _placed(project: Project, state: DashboardState, panels: list[Panel]) -> list[dict[str, object]]:
    """Each panel with the URL its placeholder loads."""
    return panels_place(project=project, state=state, panels=panels)


def _page(
    request: HttpRequest, project: Project, template: str, context: dict[str, object], status: int
) -> HttpResponse:
    # Back/forward to a pushed URL asks (HX-History-Restore-Request) for the whole page: the dashboard is kept out of
    # htmx's history cache (hx-history="false"), whose snapshots would hold panels that never load again.
    restore = bool(getattr(getattr(request, "htmx", None), "history_restore_request", False))
    fragment = f"{template}#dashboard" if is_partial(request) and not restore else template
    response = render(request, fragment, context, status=status)
    # One URL answers a fragment or a page: a browser must not show the cached fragment on Back.
    patch_vary_headers(response, ["HX-Request"])
    return response


@project_view()
def overview_view(request: HttpRequest, project: Project) -> HttpResponse:
    """The project's home: traffic, errors, latency, tokens, cost, every quality metric, failing routes and scores."""
    params = {k: v.strip() for k, v in request.GET.items()}
    context: dict[str, object] = {"project": project, "nav": "overview", "panels": [], "quality_panels": []}
    status = 200
    state = None
    now = timezone.now()
    try:
        state = DashboardState.from_query(request.GET, now=now, default_group_by=OVERVIEW_GROUP_BY)
    except DashboardParamError as exc:
        context["param_error"] = exc
        status = 400
    context.update(_controls(project, state, params))
    context["page_url"] = reverse("dashboards:overview", args=[project.slug])
    context["group_label"] = DIMENSION_LABELS.get(state.group_by, "") if state else ""
    context["has_traces"] = trace_list(project=project, filters=TraceFilters()).exists()
    if not context["has_traces"] and not params and not is_partial(request):
        # A project without any trace yet: the page that shows how to send one is more use than empty charts.
        return redirect("traces:onboarding", project_slug=project.slug)
    if state is not None and context["has_traces"]:
        # Drawn in the page: one request for the page and its panels, whose shared reads are made once.
        reads = PanelReads(project)

        def drawn(panels: list[Panel]) -> list[dict[str, object]]:
            return panels_place(project=project, state=state, panels=panels, now=now, reads=reads)

        total = {"group_by": "none"}
        context["panels"] = drawn(
            [
                Panel("series", "Traffic", {"metric": "traces", "stat": "count", **total}),
                Panel("series", "Error rate", {"metric": "errors", **total}),
                Panel("series", "Latency p50 / p95", {"metric": "latency_ms", "stat": "quantiles", **total}),
                Panel("series", "Tokens", {"metric": "tokens", "stat": "sum", **total}),
                Panel("series", "Cost", {"metric": "cost", "stat": "sum", **total}),
            ]
        )
        specs = quality_specs(project, reads)
        context["quality_panels"] = drawn(
            [Panel("series", headline_label(spec), {"metric": spec.name}) for spec in specs]
        )
        context["table_panels"] = drawn(
            [Panel("routes", "Top failing routes"), Panel("failures", "Latest failed scores")]
        )
        # The divergence table stays a placeholder: its reads are its own, and the page need not wait for them.
        if offline_metric_names(project=project):
            context["divergence_panels"] = _placed(
                project, state, [Panel("divergence", "Offline vs online", {"group_by": "none"}, wide=True)]
            )
    context["state"] = state
    return _page(request, project, OVERVIEW_TEMPLATE, context, status)


@project_view()
def divergence_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Offline vs online: the divergence table and, per metric with an offline value, both over time."""
    params = {k: v.strip() for k, v in request.GET.items()}
    context: dict[str, object] = {"project": project, "nav": "overview", "panels": []}
    status = 200
    state = None
    try:
        state = DashboardState.from_query(request.GET, now=timezone.now(), default_group_by="")
        threshold, persist = divergence_params(request.GET)
    except DashboardParamError as exc:
        context["param_error"] = exc
        status = 400
        state = None
    context.update(_controls(project, state, params))
    context["page_url"] = reverse("dashboards:divergence", args=[project.slug])
    if state is not None:
        own = {k: request.GET[k] for k in ("threshold", "persist") if request.GET.get(k, "").strip()}
        context["threshold"], context["persist"] = threshold, persist
        metrics = offline_metric_names(project=project)
        context["panels"] = _placed(
            project,
            state,
            [
                Panel("divergence", "Offline vs online", {"group_by": "none", **own}, wide=True),
                *[Panel("divergence_chart", name, {"metric": name, "group_by": "none", **own}) for name in metrics],
            ],
        )
    context["state"] = state
    return _page(request, project, DIVERGENCE_TEMPLATE, context, status)


@project_view()
def explorer_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Pick a metric, a group-by and filters: its chart, and its slices against the previous period."""
    params = {k: v.strip() for k, v in request.GET.items()}
    specs = metric_spec_list(project=project)
    context: dict[str, object] = {"project": project, "nav": "explorer", "specs": specs, "panels": []}
    status = 200
    state = None
    try:
        state = DashboardState.from_query(request.GET, now=timezone.now(), default_group_by=OVERVIEW_GROUP_BY)
        if not state.metric:
            default = next((s.name for s in specs if s.name not in BUILTIN_SPECS), "errors")
            state = DashboardState.from_query(
                {**request.GET.dict(), "metric": default}, now=timezone.now(), default_group_by=OVERVIEW_GROUP_BY
            )
        if state.metric not in {s.name for s in specs}:
            raise DashboardParamError("metric", f"no metric {state.metric[:100]!r} in this project")
    except DashboardParamError as exc:
        context["param_error"] = exc
        status = 400
        state = None
    context.update(_controls(project, state, params))
    context["page_url"] = reverse("dashboards:explorer", args=[project.slug])
    if state is not None:
        spec = next(s for s in specs if s.name == state.metric)
        context["spec"] = spec
        context["direction"] = direction_text(spec)
        context["panels"] = _placed(
            project, state, [Panel("series", headline_label(spec), {}, wide=True), Panel("slices", "Slices", {})]
        )
    context["state"] = state
    return _page(request, project, EXPLORER_TEMPLATE, context, status)


@project_view()
def panel_view(request: HttpRequest, project: Project, kind: str) -> HttpResponse:
    """One panel's fragment: its figure, table or empty state; a bad parameter is a 400 with the message."""
    if kind not in panel_kinds():
        raise Http404("No such panel.")
    panel = Panel(kind, "", {k: request.GET[k] for k in PANEL_PARAMS if k in request.GET})
    pid = request.GET.get("pid", "")
    dom_id = pid if PANEL_ID.match(pid) else panel.dom_id  # the placeholder's id, so the swap keeps it
    item = {"panel": panel, "dom_id": dom_id, "url": request.get_full_path(), "loaded": True}  # its URL: a refresh
    context: dict[str, object] = {"project": project, "item": item}
    status = 200
    try:
        state = DashboardState.from_query(request.GET, now=timezone.now(), default_group_by=OVERVIEW_GROUP_BY)
        item["content"] = panel_render(
            kind=kind, request=PanelRequest(project=project, state=state, params=request.GET)
        )
    except DashboardParamError as exc:
        item["param_error"] = exc
        status = 400
    return render(request, PANEL_TEMPLATE, context, status=status)
