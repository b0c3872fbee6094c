"""The offline-vs-online divergence panels: a table of every metric × model/prompt version with an offline value
(latest offline beside latest online, the gap, the flag), and a chart per metric of both over time.

Registered in the panel framework (`divergence`, `divergence_chart`); placed on the overview and on
/p/<slug>/divergence/. The numbers come from `apps.datasets.divergence`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.urls import reverse
from django.utils.http import urlencode

from apps.dashboards.charts import (
    PALETTE,
    THRESHOLD_COLOUR,
    Figure,
    _axis,
    _figure,
    _x,
    change_format,
    headline_label,
    time_layout,
    value_format,
)
from apps.dashboards.panels import PanelContent, PanelRequest, panel_register
from apps.dashboards.state import DashboardParamError
from apps.datasets.divergence import DEFAULT_PERSIST, DEFAULT_THRESHOLD, Divergence, divergence_list
from apps.projects.models import Project

BEHIND_TEXT = "the offline suite has fallen behind production"
STRICTER_TEXT = "the offline suite is stricter than production"


def divergence_params(params: Mapping[str, str]) -> tuple[float, int]:
    """The gap threshold (a fraction: 0.1 is 10 points of a rate) and how many buckets in a row make it persist."""
    raw_threshold = (params.get("threshold") or "").strip()
    raw_persist = (params.get("persist") or "").strip()
    threshold, persist = DEFAULT_THRESHOLD, DEFAULT_PERSIST
    if raw_threshold:
        try:
            threshold = float(raw_threshold)
        except ValueError:
            threshold = math.nan
        if not (math.isfinite(threshold) and 0 < threshold <= 1):
            raise DashboardParamError("threshold", "a fraction above 0 and at most 1 (0.1 = 10 points of a rate)")
    if raw_persist:
        if not raw_persist.isdigit() or not 1 <= int(raw_persist) <= 100:
            raise DashboardParamError("persist", "a whole number of buckets from 1 to 100")
        persist = int(raw_persist)
    return threshold, persist


def _items(request: PanelRequest) -> list[Divergence]:
    state = request.state
    threshold, persist = divergence_params(request.params)
    return divergence_list(
        project=request.project,
        start=state.start,
        end=state.end,
        interval=state.interval,
        threshold=threshold,
        persist=persist,
        metric=request.params.get("metric") or "",
        prompt_version=state.filters.get("prompt_version", ""),
        model=state.filters.get("model", ""),
    )


def build_dataset_url(project: Project, item: Divergence) -> str:
    """The dataset builder prefilled with this version's labeled failures."""
    query = {"verdict": "fail", "prompt_version": item.prompt_version}
    if item.model:
        query["model"] = item.model
    query["name"] = f"{item.prompt_version} {item.model} failures".replace("  ", " ")
    return reverse("datasets:new", args=[project.slug]) + "?" + urlencode(query)


def divergence_rows(project: Project, items: Sequence[Divergence]) -> list[dict[str, Any]]:
    """One table row per metric × version: offline, online, gap, flag and the dataset link."""
    rows = []
    for item in items:
        latest = item.latest
        offline = item.latest_offline
        rows.append(
            {
                "metric": headline_label(item.spec),
                "name": item.metric,
                "version": " · ".join(v for v in (item.model, item.prompt_version) if v),
                "prompt_version": item.prompt_version,
                "offline": value_format(item.spec, offline.value),
                "offline_at": offline.measured_at,
                "online": value_format(item.spec, latest.online) if latest else "–",
                "samples": latest.samples if latest else 0,
                "gap": change_format(item.spec, latest.gap) if latest else "–",
                "flagged": item.flagged,
                "message": (BEHIND_TEXT if item.behind else STRICTER_TEXT) if item.flagged else "",
                "build_url": build_dataset_url(project, item),
            }
        )
    return rows


@panel_register("divergence")
def divergence_panel(request: PanelRequest) -> PanelContent:
    """Per metric and model/prompt version: the latest offline value beside live traffic's, the gap and the flag."""
    threshold, persist = divergence_params(request.params)
    items = _items(request)
    content = PanelContent(
        title="Offline vs online",
        subtitle=f"gap = offline − online, flagged beyond {threshold * 100:g} points for {persist} buckets in a row",
        template="dashboards/_divergence_table.html",
    )
    if not items:
        content.empty = "No offline runs yet: POST /api/v1/offline-runs from the offline suite."
        return content
    content.context = {"rows": divergence_rows(request.project, items)}
    return content


@panel_register("divergence_chart")
def divergence_chart_panel(request: PanelRequest) -> PanelContent:
    """One metric over time: online per version (solid) and the offline value standing then (dashed)."""
    metric = request.params.get("metric") or ""
    if not metric:
        raise DashboardParamError("metric", "choose a metric")
    threshold, _ = divergence_params(request.params)
    items = [i for i in _items(request) if i.metric == metric]
    content = PanelContent(title=metric, subtitle="online (solid) vs offline (dashed), by model · prompt version")
    if not items:
        content.empty = f"No offline value of {metric[:100]} yet."
        return content
    content.title = headline_label(items[0].spec)
    if not any(i.points for i in items):
        content.empty = "No live traffic of these versions in this range."
        return content
    content.figure = divergence_figure(items, request.state.start, request.state.end, request.state.step, threshold)
    return content


def divergence_figure(
    items: Sequence[Divergence], start: datetime, end: datetime, step: timedelta, threshold: float
) -> Figure:
    """Online and offline lines per version on the metric's axis; flagged versions' names say so."""
    spec = items[0].spec
    factor = 100.0 if spec.unit == "%" else 1.0
    traces: list[dict[str, Any]] = []
    for n, item in enumerate(items[: len(PALETTE)]):
        colour = PALETTE[n % len(PALETTE)]
        name = " · ".join(v for v in (item.model, item.prompt_version) if v) + (" ⚑" if item.flagged else "")
        xs = [_x(p.t) for p in item.points]
        traces.append(
            {
                "x": xs,
                "y": [p.online * factor for p in item.points],
                "name": f"online {name}",
                "mode": "lines+markers",
                "line": {"color": colour, "width": 2},
                "marker": {"color": colour, "size": 5},
                "customdata": [p.samples for p in item.points],
                "hovertemplate": "%{x} UTC<br>online: %{y:.4~r}<br>n = %{customdata:,}<extra></extra>",
                "type": "scatter",
            }
        )
        traces.append(
            {
                "x": xs,
                "y": [p.offline * factor for p in item.points],
                "name": f"offline {name}",
                "mode": "lines",
                "line": {"color": colour, "width": 2, "dash": "dash", "shape": "hv"},
                "hovertemplate": "%{x} UTC<br>offline: %{y:.4~r}<extra></extra>",
                "type": "scatter",
            }
        )
    layout = time_layout(
        start,
        end,
        height=280,
        showlegend=True,
        meta={"links": [], "step": int(step.total_seconds()), "threshold": threshold},
        yaxis=_axis(spec, spec.headline),
    )
    flag = {
        "font": {"color": THRESHOLD_COLOUR, "size": 10},
        "showarrow": False,
        "text": f"flag: gap beyond {threshold * 100:g} points",
        "x": 1,
        "xanchor": "right",
        "xref": "paper",
        "y": 1.02,
        "yref": "paper",
    }
    return _figure(traces, layout, [], [flag])
