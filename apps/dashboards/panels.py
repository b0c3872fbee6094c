"""The panel framework: a page is a list of `Panel`s, each loaded as its own htmx fragment.

A panel kind is a renderer registered with `@panel_register("kind")`: it takes a `PanelRequest` (the project,
the page's `DashboardState` and the panel's own parameters), reads selectors, and returns a `PanelContent` (a
figure, a table fragment, or an empty-state message). Pages place `Panel(kind, title, params)` in one of two
ways: drawn in the page itself (`panels_place(..., reads=PanelReads(project))`: one request for the page and its
panels, the reads several panels make alike (metric declarations, alert rules, version changes) made once), or as
a placeholder that fetches `/p/<slug>/panels/<kind>/?<state and params>` on load. Either way a drawn panel keeps
that URL (`hx-get`, fired by a `panel:refresh` event), and the panel view answers it with the same fragment.
Later pages (SLIs, judge agreement, offline-vs-online divergence) register their own kinds and reuse the same
shell, state, range picker and charts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from apps.dashboards.charts import (
    Figure,
    Marker,
    Stat,
    Threshold,
    change_format,
    direction_text,
    figure_json,
    group_label,
    headline_label,
    series_figure,
    value_format,
)
from apps.dashboards.state import DIMENSION_LABELS, DashboardParamError, DashboardState
from apps.evaluators.models import EvaluatorVersion
from apps.evaluators.selectors import evaluator_version_list
from apps.projects.models import Project
from apps.scores.corrected import metric_series_corrected
from apps.scores.metrics import BUILTIN_SPECS, MetricKind, MetricSpec
from apps.scores.ppi import MIN_LABELED
from apps.scores.selectors import (
    MetricQueryError,
    MetricSeries,
    metric_series,
    metric_slices,
    metric_spec_get,
    metric_spec_list,
    route_failure_list,
    score_failed_list,
)
from apps.slis.selectors import RuleLine, rule_lines_by_metric

# The panel's own parameters, besides the page state (which they override: group_by=none makes a total).
PANEL_PARAMS = ("metric", "stat", "group_by", "sli", "slice_by", "size")
STATS: dict[str, tuple[Stat, ...]] = {
    "headline": (),  # the metric's headline (pass rate, rate, mean or count), from its MetricSpec
    "count": (Stat("count", "traces"),),
    "quantiles": (Stat("p50", "p50"), Stat("p95", "p95")),
    "sum": (Stat("value_sum", "total"),),
}


@dataclass(frozen=True)
class Panel:
    """A panel placed on a page: its kind (a registered renderer), its title and its own parameters."""

    kind: str
    title: str
    params: dict[str, str] = field(default_factory=dict)
    wide: bool = False

    @property
    def dom_id(self) -> str:
        """A stable element id: the kind and parameters, made safe for HTML."""
        raw = "-".join([self.kind, *(f"{k}-{v}" for k, v in sorted(self.params.items()))])
        return "panel-" + re.sub(r"[^A-Za-z0-9_-]+", "_", raw)[:120]

    def url(self, project: Project, state: DashboardState) -> str:
        """The fragment's URL: the page's state with the panel's parameters on top."""
        query = state.querystring(**self.params, pid=self.dom_id)
        return reverse("dashboards:panel", args=[project.slug, self.kind]) + "?" + query


class PanelReads:
    """Reads that several panels of a page make alike, each made once per request and kept for the next panel:
    metric declarations, the alert rules' threshold lines, the evaluators' version changes in the range."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._specs: dict[str, MetricSpec | None] = {}
        self._spec_list: list[MetricSpec] | None = None
        self._rule_lines: dict[str, list[RuleLine]] | None = None
        self._versions: dict[tuple[datetime, datetime], list[EvaluatorVersion]] = {}

    def spec_list(self) -> list[MetricSpec]:
        """Every metric of the project with its declaration (metric_spec_list)."""
        if self._spec_list is None:
            self._spec_list = metric_spec_list(project=self.project)
            self._specs.update((s.name, s) for s in self._spec_list)
        return self._spec_list

    def spec(self, name: str) -> MetricSpec | None:
        """One metric's declaration (metric_spec_get), from the list when it has been read."""
        if name not in self._specs:
            self._specs[name] = metric_spec_get(project=self.project, name=name)
        return self._specs[name]

    def rule_lines(self, metric: str) -> list[RuleLine]:
        """The threshold lines of the enabled rules on this metric (all metrics' rules in one query)."""
        if self._rule_lines is None:
            known = {n: s for n, s in self._specs.items() if s is not None}
            self._rule_lines = rule_lines_by_metric(project=self.project, specs=known)
        return self._rule_lines.get(metric, [])

    def version_changes(self, start: datetime, end: datetime) -> list[EvaluatorVersion]:
        """The evaluators' version changes in [start, end) (evaluator_version_list)."""
        if (start, end) not in self._versions:
            self._versions[start, end] = evaluator_version_list(project=self.project, since=start, until=end)
        return self._versions[start, end]


@dataclass(frozen=True)
class PanelRequest:
    """What a renderer gets: the project, the page state, the panel's parameters and the page's shared reads."""

    project: Project
    state: DashboardState
    params: Mapping[str, str]
    reads: PanelReads = None  # type: ignore[assignment]  # set in __post_init__: a fresh one for a lone panel

    def __post_init__(self) -> None:
        if self.reads is None:
            object.__setattr__(self, "reads", PanelReads(self.project))


@dataclass
class PanelContent:
    """What a renderer returns: a figure, or a table fragment and its context, or an empty-state message."""

    title: str = ""
    subtitle: str = ""
    figure: Figure | None = None
    template: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    empty: str = ""

    @property
    def figure_text(self) -> str:
        """The figure as JSON text for a data attribute (drawn by static/sightline/charts.js); '' without one.

        An attribute, not a <script type="application/json">: htmx (allowScriptTags false) drops swapped-in
        script elements, whatever their type.
        """
        if self.figure is None:
            return ""
        return json.dumps(figure_json(self.figure), cls=DjangoJSONEncoder, separators=(",", ":"))


Renderer = Callable[[PanelRequest], PanelContent]
_renderers: dict[str, Renderer] = {}


def panel_register(kind: str) -> Callable[[Renderer], Renderer]:
    """Register a panel kind's renderer (a decorator); later pages add their kinds the same way."""

    def decorator(renderer: Renderer) -> Renderer:
        _renderers[kind] = renderer
        return renderer

    return decorator


def panel_kinds() -> list[str]:
    """The registered panel kinds."""
    return sorted(_renderers)


def panel_render(*, kind: str, request: PanelRequest) -> PanelContent:
    """Render one panel; raise KeyError for an unknown kind and DashboardParamError for a bad parameter."""
    renderer = _renderers[kind]
    try:
        return renderer(request)
    except MetricQueryError as exc:  # the selectors' own validation, surfaced like ours
        raise DashboardParamError(exc.field, exc.message) from exc


def panels_place(
    *,
    project: Project,
    state: DashboardState,
    panels: list[Panel],
    reads: PanelReads | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Each panel with the URL it loads from (`url`, `dom_id`); with `reads`, drawn here too (`content`, or
    `param_error`), as the panel view would answer that URL at `now` (the page's), sharing the reads between panels."""
    now = now or timezone.now()
    placed: list[dict[str, Any]] = []
    for panel in panels:
        item: dict[str, Any] = {"panel": panel, "url": panel.url(project, state), "dom_id": panel.dom_id}
        if reads is not None:
            # The panel's own state, parsed from its URL's query (which always holds group_by: the panel's own
            # overrides the page's).
            query = QueryDict(item["url"].partition("?")[2])
            try:
                panel_state = DashboardState.from_query(query, now=now)
                item["content"] = panel_render(
                    kind=panel.kind,
                    request=PanelRequest(project=project, state=panel_state, params=query, reads=reads),
                )
            except DashboardParamError as exc:
                item["param_error"] = exc
            item["loaded"] = True
        placed.append(item)
    return placed


# --- links into the trace list ---------------------------------------------------------------------------------


def trace_list_url(
    *, project: Project, state: DashboardState, spec: MetricSpec | None, group: Mapping[str, str], with_range: bool
) -> str:
    """The trace list filtered to a slice (and the state's range when asked): failed traces for error rates, traces
    with a failed verdict for pass rates, so a click on a bad point lands on what made it bad."""
    query: dict[str, str] = {**state.filters, **{k: v for k, v in group.items() if v}}
    if with_range:
        query["since"] = state.start.isoformat()
        query["until"] = state.end.isoformat()
    if spec is not None and spec.name == "errors":
        query["status"] = "error"
    elif spec is not None and spec.kind == MetricKind.BINARY and spec.name not in BUILTIN_SPECS:
        query["score"] = f"{spec.name}:failed"
    return reverse("traces:list", args=[project.slug]) + "?" + urlencode(query)


# --- built-in kinds ---------------------------------------------------------------------------------------------


def _spec_for(request: PanelRequest) -> MetricSpec:
    name = request.params.get("metric") or request.state.metric
    if not name:
        raise DashboardParamError("metric", "choose a metric")
    spec = request.reads.spec(name)
    if spec is None:
        raise DashboardParamError("metric", f"no metric {name[:100]!r} in this project")
    return spec


def _stats(spec: MetricSpec, name: str) -> tuple[Stat, ...]:
    if name not in STATS:
        raise DashboardParamError("stat", f"use one of {', '.join(STATS)}, not {name[:20]!r}")
    if name == "quantiles" and not spec.has_quantiles:
        raise DashboardParamError("stat", f"{spec.name} keeps no quantiles")
    return STATS[name] or (Stat(spec.headline, headline_label(spec)),)


@panel_register("series")
def series_panel(request: PanelRequest, thresholds: tuple[Threshold, ...] = ()) -> PanelContent:
    """A metric over time, one line per slice of the state's group-by; points link to the trace list."""
    state, project = request.state, request.project
    spec = _spec_for(request)
    stats = _stats(spec, request.params.get("stat") or "headline")
    group_by = [state.group_by] if state.group_by else []
    query: dict[str, Any] = {
        "project": project,
        "metric": spec.name,
        "start": state.start,
        "end": state.end,
        "interval": state.interval,
        "group_by": group_by,
        "filters": state.filters,
        "spec": spec,
    }
    corrected = spec.judged and stats[0].field == "pass_rate"
    band: tuple[str, str] | None = None
    if corrected:
        # A judged pass rate: the judge's raw rate beside the bias-corrected one and its 95 % interval.
        series, _ = metric_series_corrected(**query)
        stats = (Stat("corrected_pass_rate", "corrected"), Stat("pass_rate", "judge (raw)"))
        band = ("ci_low", "ci_high")
    else:
        series = metric_series(**query)
    bits = [direction_text(spec), spec.unit, f"by {DIMENSION_LABELS[state.group_by].lower()}" if group_by else ""]
    if corrected:
        bits.append(_labeled_text(series))
    content = PanelContent(title=_series_title(spec, stats), subtitle=" · ".join(b for b in bits if b))
    if not any(s.points for s in series):
        content.empty = f"No {'traces' if spec.source == 'trace' else 'scores'} in this range."
        return content
    content.figure = series_figure(
        spec=spec,
        series=series,
        stats=stats,
        start=state.start,
        end=state.end,
        step=state.step,
        link=lambda group: trace_list_url(project=project, state=state, spec=spec, group=group, with_range=False),
        thresholds=thresholds or _rule_thresholds(request.reads, spec, stats),
        markers=_version_markers(request.reads, spec, state),
        bars=stats[0].field in {"count", "value_sum"},
        band=band,
    )
    return content


def _labeled_text(series: list[MetricSeries]) -> str:
    """What the correction rests on: the labeled random-sample traces behind it (the fewest of any slice)."""
    counts = [s.points[0].n_labeled or 0 for s in series if s.points]
    if not counts:
        return ""
    fewest = min(counts)
    if fewest < MIN_LABELED:
        return f"corrected with the labeled random sample: {fewest} labeled, {MIN_LABELED} needed"
    return f"raw judge vs corrected (95 % interval, {fewest} labeled random-sample traces)"


def _version_markers(reads: PanelReads, spec: MetricSpec, state: DashboardState) -> tuple[Marker, ...]:
    """Where the evaluator writing this metric changed version in the range: a step, not a silent shift."""
    if spec.source != "evaluator":
        return ()
    changes = reads.version_changes(state.start, state.end)
    return tuple(
        Marker(
            at=change.created_at,
            label=(
                f"{change.evaluator.name} {spec.version_label(change.previous_version)} → "
                f"{spec.version_label(change.version)} ({change.reason})"
            ),
            hover=f"version {change.previous_version} → {change.version}",
        )
        for change in changes
        if change.evaluator.name == spec.name
    )


def _rule_thresholds(reads: PanelReads, spec: MetricSpec, stats: tuple[Stat, ...]) -> tuple[Threshold, ...]:
    """The alert rules on this metric whose figure the chart shows, as threshold lines."""
    shown = {stat.field for stat in stats} or {spec.headline}
    lines = reads.rule_lines(spec.name)
    return tuple(Threshold(line.value, line.label) for line in lines if line.field in shown)


def _series_title(spec: MetricSpec, stats: tuple[Stat, ...]) -> str:
    """The chart's title says what is drawn: a total per bucket is not the spec's per-trace mean."""
    label = spec.label or spec.name
    if stats[0].field == "value_sum":
        return f"{label.removesuffix(' per trace')} (total per bucket)"
    if stats[0].field in {"p50", "p95", "p99"}:
        return f"{label} " + " / ".join(s.label for s in stats)
    return label if stats[0].field == "count" else headline_label(spec)


@panel_register("slices")
def slices_panel(request: PanelRequest) -> PanelContent:
    """A metric's slices over the range: count, value and change against the previous period, worst first."""
    state, project = request.state, request.project
    spec = _spec_for(request)
    group_by = [state.group_by] if state.group_by else []
    slices = metric_slices(
        project=project,
        metric=spec.name,
        start=state.start,
        end=state.end,
        group_by=group_by,
        filters=state.filters,
        spec=spec,
    )
    content = PanelContent(
        title=f"{headline_label(spec)} by {DIMENSION_LABELS[state.group_by].lower()}" if group_by else "Total",
        subtitle=f"against the previous {_period_text(state)} · worst first ({direction_text(spec) or 'neutral'})",
        template="dashboards/_slices_table.html",
    )
    if not slices:
        content.empty = "No data in this range."
        return content
    rows = []
    for s in slices:
        rows.append(
            {
                "label": group_label(s.group),
                "group": s.group,
                "count": s.count,
                "value": value_format(spec, s.value),
                "previous": value_format(spec, s.previous_value),
                "change": change_format(spec, s.change),
                "trend": "worse" if s.worse_by > 0 else ("better" if s.worse_by < 0 else ""),
                "select_query": state.with_filters(s.group).querystring(group_by="none")
                if s.group and all(s.group.values())
                else "",
                "traces_url": trace_list_url(project=project, state=state, spec=spec, group=s.group, with_range=True),
            }
        )
    content.context = {"rows": rows, "dimension": DIMENSION_LABELS.get(state.group_by, "Slice"), "spec": spec}
    return content


def _period_text(state: DashboardState) -> str:
    return {"1h": "hour", "24h": "24 hours", "7d": "7 days", "30d": "30 days"}.get(state.range, "period")


def quality_specs(project: Project, reads: PanelReads | None = None) -> list[MetricSpec]:
    """Every quality metric of the project: enabled evaluators' pass rates, feedback rates, other scores."""
    specs = (reads or PanelReads(project)).spec_list()
    return [s for s in specs if s.name not in BUILTIN_SPECS]


@panel_register("routes")
def routes_panel(request: PanelRequest) -> PanelContent:
    """The routes with the most errors and failed verdicts over the range."""
    state, project = request.state, request.project
    names = [s.name for s in quality_specs(project, request.reads)]
    routes = route_failure_list(project=project, names=names, start=state.start, end=state.end, filters=state.filters)
    content = PanelContent(
        title="Top failing routes", subtitle="errors and failed verdicts", template="dashboards/_routes_table.html"
    )
    if not routes:
        content.empty = "No errors or failed scores in this range."
        return content
    errors = BUILTIN_SPECS["errors"]
    content.context = {
        "rows": [
            {
                "route": r.route or "(none)",
                "traces": r.traces,
                "errors": r.errors,
                "error_rate": value_format(errors, r.errors / r.traces if r.traces else None),
                "failed": r.failed,
                "fail_rate": f"{100 * r.failed / r.judged:.1f} %" if r.judged else "–",
                "traces_url": trace_list_url(
                    project=project, state=state, spec=None, group={"route": r.route}, with_range=True
                ),
            }
            for r in routes
        ]
    }
    return content


@panel_register("failures")
def failures_panel(request: PanelRequest) -> PanelContent:
    """The latest scores that failed in the range, linking to their traces."""
    state, project = request.state, request.project
    names = [spec.name for spec in quality_specs(project, request.reads) if spec.kind == MetricKind.BINARY]
    scores = score_failed_list(project=project, names=names, start=state.start, end=state.end, filters=state.filters)
    content = PanelContent(
        title="Latest failed scores", subtitle="newest first", template="dashboards/_failures_table.html"
    )
    if not scores:
        content.empty = "No failed scores in this range."
        return content
    content.context = {"scores": scores}
    return content
