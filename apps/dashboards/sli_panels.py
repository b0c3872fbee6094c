"""SLI charts on the panel framework: the SLI list's chart per SLI and the SLI page's charts.

Slis sits below dashboards, so its pages cannot build panels themselves: `sli_panel_place` is registered with
`apps.slis.selectors.sli_chart_placer_register` (DashboardsConfig.ready) and returns the placeholder the SLI page
includes; the placeholder loads `/p/<slug>/panels/sli/?sli=<id>&range=…&slice_by=…`, drawn here from
`sli_series` (the rollups) with the SLI's own rules as threshold lines.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone

from apps.dashboards.charts import Threshold, sli_figure
from apps.dashboards.panels import Panel, PanelContent, PanelRequest, panel_register
from apps.dashboards.state import DIMENSIONS, DashboardParamError, DashboardState
from apps.projects.models import Project
from apps.slis.engine import sli_unit, value_format
from apps.slis.models import Sli
from apps.slis.selectors import SliChart, rule_list, sli_get, sli_series, sli_spec

PANEL_TEMPLATE = "dashboards/_panel.html"
SLICE_LABELS = {"model": "model", "prompt_version": "prompt version", "route": "route", "environment": "environment"}


def sli_panel(sli: Sli, group_by: Sequence[str], compact: bool) -> Panel:
    """The panel of an SLI's chart: all traffic, or one line per slice of group_by."""
    params = {"sli": str(sli.id)}
    if group_by:
        params["slice_by"] = ",".join(group_by)
    if compact:
        params["size"] = "compact"
    by = ", ".join(SLICE_LABELS.get(d, d) for d in group_by)
    return Panel("sli", f"{sli.name} by {by}" if by else f"{sli.name}, all traffic", params)


def sli_panel_place(project: Project, sli: Sli, range_name: str, group_by: Sequence[str], compact: bool) -> SliChart:
    """The placeholder of an SLI chart over a preset range (registered with slis)."""
    state = DashboardState.from_query({"range": range_name}, now=timezone.now())
    panel = sli_panel(sli, group_by, compact)
    item = {"panel": panel, "url": panel.url(project, state), "dom_id": panel.dom_id}
    return SliChart(PANEL_TEMPLATE, {"item": item})


def _slice_by(raw: str) -> list[str]:
    dims = [d for d in (raw or "").split(",") if d]
    bad = [d for d in dims if d not in DIMENSIONS]
    if bad:
        raise DashboardParamError("slice_by", f"use {', '.join(DIMENSIONS)}, not {bad[0][:30]!r}")
    return list(dict.fromkeys(dims))


def _sli_thresholds(project: Project, sli: Sli, unit: str) -> tuple[Threshold, ...]:
    """Each enabled rule of the SLI in the SLI's own terms: a threshold, or an SLO's objective (as a fail rate for
    a fail-rate SLI)."""
    lines = []
    for rule in rule_list(project=project, sli=sli).filter(is_enabled=True):
        if rule.objective is not None:
            value = 1 - rule.objective if sli.aggregation == Sli.Aggregation.FAIL_RATE else rule.objective
            lines.append(Threshold(value, f"SLO {rule.objective * 100:g} %"))
        else:
            lines.append(Threshold(rule.threshold, f"{rule.comparator} {value_format(rule.threshold, unit)}"))
    return tuple(lines)


@panel_register("sli")
def sli_chart_panel(request: PanelRequest) -> PanelContent:
    """An SLI over the state's range, all traffic or per slice, with its rules' thresholds."""
    project, state, params = request.project, request.state, request.params
    raw_id = params.get("sli") or ""
    if not raw_id.isdigit():
        raise DashboardParamError("sli", "an SLI id is required")
    sli = sli_get(project=project, sli_id=int(raw_id))
    if sli is None:
        raise DashboardParamError("sli", f"no SLI {raw_id[:20]} in this project")
    group_by = _slice_by(params.get("slice_by", ""))
    compact = params.get("size") == "compact"
    spec = sli_spec(project=project, sli=sli)
    unit = sli_unit(sli.aggregation, spec)
    series = sli_series(
        project=project,
        sli=sli,
        start=state.start,
        end=state.end,
        interval=state.interval,
        group_by=group_by,
        spec=spec,
    )
    panel = sli_panel(sli, group_by, compact)
    content = PanelContent(
        title="" if compact else panel.title,
        subtitle=f"{sli.aggregation}({sli.metric}) · {state.interval} buckets" + (f" · {unit}" if unit else ""),
    )
    if not any(v is not None for s in series for _, v, _ in s.points):
        content.empty = "No data in this range."
        return content
    content.figure = sli_figure(
        series=series,
        unit=unit,
        start=state.start,
        end=state.end,
        step=state.step,
        thresholds=_sli_thresholds(project, sli, unit),
        compact=compact,
    )
    return content
