"""Plotly figures built from selector output: pure functions, no queries.

Each figure is a plain dict in plotly.js's figure format (`{"data": [...], "layout": {...}}`), the JSON that
`plotly.graph_objects.Figure(...).to_plotly_json()` gave for the same input, built without plotly's validation (~17 ms
of Python per chart); tests/dashboards/test_charts.py holds each kind equal to what plotly makes of it. Pages embed its
JSON (`figure_json`) and static/sightline/charts.js draws it with the plotly.js served from static/ (no CDN, no
inline script). The y axis reads the metric's
`MetricSpec`: rates and pass rates in %, latency in ms, cost in USD, and a title that says which way is better.
Times on the x axis are UTC, labelled as such, like every time in the UI.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apps.scores.metrics import DIRECTION_TEXT, MetricKind, MetricSpec
from apps.scores.selectors import MetricPoint, MetricSeries
from apps.slis.selectors import SliSeries

# Okabe–Ito: distinguishable with the common colour-vision deficiencies, readable on white.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
THRESHOLD_COLOUR = "#B00020"
MARKER_COLOUR = "#6B21A8"
NONE_LABEL = "(none)"
MAX_GROUPS = 12  # more slices than this are summed into "other" by the caller's choice of split; we cut here

Figure = dict[str, Any]  # {"data": [trace, ...], "layout": {...}}: plotly.js's figure, as plain JSON data


@dataclass(frozen=True)
class Threshold:
    """A horizontal line on a chart (an SLI objective), in the metric's own units (0.95 for 95 %)."""

    value: float
    label: str


@dataclass(frozen=True)
class Marker:
    """A vertical line on a chart at a moment (an evaluator's version change), with its label."""

    at: datetime
    label: str
    hover: str = ""  # shown on hover: the full version hashes behind a short label


@dataclass(frozen=True)
class Stat:
    """One line to draw from each series' points: which field, and its name in the legend."""

    field: str  # a MetricPoint attribute: pass_rate, value, count, p50, p95, p99, value_sum
    label: str = ""


def direction_text(spec: MetricSpec) -> str:
    """'higher is better', 'lower is better' or '' for a neutral metric."""
    return DIRECTION_TEXT.get(spec.direction, "")


def headline_label(spec: MetricSpec) -> str:
    """The metric's name as its headline reads: 'refusal pass rate', 'Error rate', 'Latency'."""
    label = spec.label or spec.name
    return f"{label} pass rate" if spec.kind == MetricKind.BINARY and "pass" not in label.lower() else label


RATE_FIELDS = {"pass_rate", "value", "corrected_pass_rate", "ci_low", "ci_high"}
INTERVAL_LABEL = "95 % interval"


def scale(spec: MetricSpec, field: str) -> float:
    """The factor from stored value to displayed value: rates are fractions shown in %."""
    return 100.0 if spec.unit == "%" and field in RATE_FIELDS else 1.0


def value_format(spec: MetricSpec, value: float | None, field: str = "") -> str:
    """Format a headline value with the metric's unit: '96.0 %', '812 ms', '$0.0123', '1,204'."""
    if value is None:
        return "–"
    field = field or spec.headline
    shown = value * scale(spec, field)
    if field == "count":
        return f"{int(shown):,}"
    if spec.unit == "%":
        return f"{shown:.1f} %"
    if spec.unit == "USD":
        return f"${shown:,.4f}" if abs(shown) < 1 else f"${shown:,.2f}"
    if spec.unit == "ms":
        return f"{shown:,.0f} ms"
    if spec.unit:
        return f"{shown:,.1f} {spec.unit}"
    return f"{shown:,.3g}"


def change_format(spec: MetricSpec, change: float | None) -> str:
    """Format a change of the headline: '+4.2 pp' for rates, '+120 ms', '−0.3'."""
    if change is None:
        return "–"
    shown = change * scale(spec, spec.headline)
    sign = "+" if shown > 0 else ("−" if shown < 0 else "±")
    magnitude = abs(shown)
    if spec.headline == "count":
        return f"{sign}{int(magnitude):,}"
    if spec.unit == "%":
        return f"{sign}{magnitude:.1f} pp"
    if spec.unit == "USD":
        return f"{sign}${magnitude:,.4f}"
    if spec.unit:
        return f"{sign}{magnitude:,.1f} {spec.unit}"
    return f"{sign}{magnitude:,.3g}"


def _axis(spec: MetricSpec, field: str) -> dict[str, Any]:
    axis: dict[str, Any] = {"zeroline": False, "gridcolor": "#E5E7EB", "automargin": True, "rangemode": "tozero"}
    if field == "count":
        axis["tickformat"] = "~s"
    elif spec.unit == "%":
        axis["ticksuffix"] = " %"
        if spec.kind in {MetricKind.BINARY, MetricKind.RATE}:
            axis["range"] = [-2, 105]  # headroom: a 100 % point is not drawn on the frame
            axis.pop("rangemode")
    elif spec.unit == "USD":
        axis["tickprefix"] = "$"
        axis["tickformat"] = "~g"  # $0.0007, not plotly's SI "$700µ"
    elif spec.unit:
        axis["ticksuffix"] = f" {spec.unit}"
    return axis


def group_label(group: dict[str, str]) -> str:
    """A series' legend entry: its group values ('v13', 'gpt-4o · v13'); 'all' when ungrouped."""
    if not group:
        return "all"
    return " · ".join(v or NONE_LABEL for v in group.values())


def buckets(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """Every bucket start in [start, end) (start aligned by the caller)."""
    out, t = [], start
    while t < end:
        out.append(t)
        t += step
    return out


def _x(t: datetime) -> str:
    # plotly.js ignores time zones: give it UTC wall time, and say UTC on the axis and in the hover.
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def series_figure(
    *,
    spec: MetricSpec,
    series: Sequence[MetricSeries],
    stats: Sequence[Stat],
    start: datetime,
    end: datetime,
    step: timedelta,
    link: Callable[[dict[str, str]], str] | None = None,
    thresholds: Sequence[Threshold] = (),
    markers: Sequence[Marker] = (),
    bars: bool = False,
    band: tuple[str, str] | None = None,
) -> Figure:
    """Draw each series' stats over every bucket of [start, end): a gap where a bucket has no data (0 for counts).

    `link(group)` gives a series' trace-list URL; clicking a point opens it narrowed to the point's bucket
    (charts.js adds `since` and `until` from the layout's `meta.step`). `band` names the (low, high) fields of an
    interval drawn as a shaded area behind each series' lines, in the colour of its first stat.
    """
    grid = buckets(start, end, step)
    xs = [_x(t) for t in grid]
    traces: list[dict[str, Any]] = []
    colour_index = 0
    links: list[str] = []
    for s in list(series)[:MAX_GROUPS]:
        by_time: dict[datetime, MetricPoint] = {p.t: p for p in s.points}
        if band is not None and not bars:
            colour = PALETTE[colour_index % len(PALETTE)]
            for trace in _band_traces(spec, by_time, grid, xs, band, colour, s.group):
                traces.append(trace)
                links.append("")  # the shaded area opens nothing
        for n, stat in enumerate(stats):
            factor = scale(spec, stat.field)
            ys: list[float | None] = []
            counts: list[int] = []
            for t in grid:
                point = by_time.get(t)
                raw = getattr(point, stat.field) if point is not None else None
                if raw is None and stat.field == "count":
                    raw = 0
                ys.append(None if raw is None else raw * factor)
                counts.append(point.count if point is not None else 0)
            name = group_label(s.group)
            if len(stats) > 1:
                name = f"{stat.label} · {name}" if s.group else stat.label
            colour = PALETTE[colour_index % len(PALETTE)]
            colour_index += 1
            links.append(link(s.group) if link else "")
            hover = f"%{{x}} UTC<br>{name}: %{{y:.4~r}}{_unit_suffix(spec, stat.field)}<br>n = %{{customdata:,}}"
            common: dict[str, Any] = {
                "x": xs,
                "y": ys,
                "name": name,
                "customdata": counts,
                "hovertemplate": hover + "<extra></extra>",
            }
            if band is not None and n == 0:
                # The interval in the hover too: an isolated bucket has no neighbour to shade a band to.
                common["text"] = [_interval_text(spec, band, by_time.get(t)) for t in grid]
                common["hovertemplate"] = hover + "<br>%{text}<extra></extra>"
            if bars:
                traces.append({**common, "marker": {"color": colour}, "type": "bar"})
            else:
                traces.append(
                    {
                        **common,
                        "mode": "lines+markers",
                        "line": {"color": colour, "width": 2, "dash": "dot" if n else "solid"},
                        "marker": {"color": colour, "size": 5},
                        "connectgaps": False,
                        "type": "scatter",
                    }
                )
    headline_field = stats[0].field if stats else spec.headline
    layout = time_layout(
        start,
        end,
        height=260,
        showlegend=len(traces) > 1,
        meta={"links": links, "step": int(step.total_seconds())},
        yaxis=_axis(spec, headline_field),
    )
    layout["barmode"] = "stack"
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for threshold in thresholds:
        _hline(shapes, annotations, threshold.value * scale(spec, headline_field), threshold.label)
    for marker in markers:
        # A vertical line across the plot (y in paper units) and its label at the top.
        x = _x(marker.at)
        shapes.append(
            {
                "line": {"color": MARKER_COLOUR, "dash": "dot", "width": 1.5},
                "type": "line", "x0": x, "x1": x, "xref": "x", "y0": 0, "y1": 1, "yref": "paper",
            }
        )  # fmt: skip
        # Labels sit inside the plot: left of a line in the range's second half (recent changes), else right of it.
        late = marker.at - start > (end - start) / 2
        annotation: dict[str, Any] = {
            "font": {"color": MARKER_COLOUR, "size": 11}, "showarrow": False, "text": marker.label, "x": x,
            "xanchor": "right" if late else "left", "xref": "x", "y": 1, "yanchor": "top", "yref": "paper",
        }  # fmt: skip
        if marker.hover:
            annotation["hovertext"] = marker.hover
        annotations.append(annotation)
    return _figure(traces, layout, shapes, annotations)


def time_layout(
    start: datetime,
    end: datetime,
    *,
    height: int,
    showlegend: bool,
    meta: dict[str, Any],
    yaxis: dict[str, Any],
    compact: bool = False,
) -> dict[str, Any]:
    """The layout every chart over time shares: margins, legend, font, white ground and the UTC x axis over
    [start, end); `compact` (the SLI list's small charts) has thinner margins, smaller text and no axis title."""
    xaxis: dict[str, Any] = {"type": "date", "gridcolor": "#E5E7EB", "range": [_x(start), _x(end)], "automargin": True}
    if not compact:
        xaxis["title"] = {"text": "UTC", "font": {"size": 11}}
    return {
        "margin": {"l": 4, "r": 4, "t": 4, "b": 4} if compact else {"l": 8, "r": 8, "t": 8, "b": 8},
        "height": height,
        "hovermode": "closest",
        "showlegend": showlegend,
        "legend": {"orientation": "h", "y": -0.25, "font": {"size": 11}},
        "font": {"family": "system-ui, sans-serif", "size": 10 if compact else 12, "color": "#1F2937"},
        "meta": meta,
        "paper_bgcolor": "#FFFFFF",
        "plot_bgcolor": "#FFFFFF",
        "xaxis": xaxis,
        "yaxis": yaxis,
    }


def _hline(shapes: list[dict[str, Any]], annotations: list[dict[str, Any]], y: float, label: str) -> None:
    """A threshold line across the plot with its label above its left end: what plotly's
    `add_hline(y, annotation_position="top left")` adds."""
    shapes.append(
        {
            "line": {"color": THRESHOLD_COLOUR, "dash": "dash", "width": 1.5},
            "type": "line", "x0": 0, "x1": 1, "xref": "x domain", "y0": y, "y1": y, "yref": "y",
        }
    )  # fmt: skip
    annotations.append(
        {
            "font": {"color": THRESHOLD_COLOUR, "size": 11}, "showarrow": False, "text": label,
            "x": 0, "xanchor": "left", "xref": "x domain", "y": y, "yanchor": "bottom", "yref": "y",
        }
    )  # fmt: skip


def _figure(
    traces: list[dict[str, Any]],
    layout: dict[str, Any],
    shapes: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
) -> Figure:
    """The figure; shapes and annotations only when there are some (plotly leaves the keys out otherwise)."""
    if shapes:
        layout["shapes"] = shapes
    if annotations:
        layout["annotations"] = annotations
    return {"data": traces, "layout": layout}


def _interval_text(spec: MetricSpec, fields: tuple[str, str], point: MetricPoint | None) -> str:
    """'95 % interval 15.2–84.8 %' for a point's bounds; '' without them."""
    low, high = (getattr(point, f) if point is not None else None for f in fields)
    if low is None or high is None:
        return ""
    factor = scale(spec, fields[0])
    return f"{INTERVAL_LABEL} {low * factor:.3g}–{high * factor:.3g}{_unit_suffix(spec, fields[0])}"


def _band_traces(
    spec: MetricSpec,
    by_time: dict[datetime, MetricPoint],
    grid: list[datetime],
    xs: list[str],
    fields: tuple[str, str],
    colour: str,
    group: dict[str, str],
) -> list[dict[str, Any]]:
    """An interval as two traces: the upper bound (no line) and the lower one filled up to it."""
    name = f"{INTERVAL_LABEL} · {group_label(group)}" if group else INTERVAL_LABEL
    bounds = []
    for field in reversed(fields):  # high first: the low trace fills "tonexty" up to it
        factor = scale(spec, field)
        ys = []
        for t in grid:
            point = by_time.get(t)
            raw = getattr(point, field) if point is not None else None
            ys.append(None if raw is None else raw * factor)
        bounds.append(ys)
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    fill = f"rgba({red},{green},{blue},0.18)"
    common: dict[str, Any] = {"x": xs, "mode": "lines", "line": {"width": 0, "color": fill}, "connectgaps": False}
    return [
        {**common, "y": bounds[0], "name": name, "legendgroup": name, "showlegend": False, "hoverinfo": "skip",
         "type": "scatter"},
        {**common, "y": bounds[1], "name": name, "legendgroup": name, "fill": "tonexty", "fillcolor": fill,
         "hoverinfo": "skip", "type": "scatter"},
    ]  # fmt: skip


def _unit_suffix(spec: MetricSpec, field: str) -> str:
    if field == "count":
        return ""
    if spec.unit == "%":
        return " %"
    return f" {spec.unit}" if spec.unit else ""


def figure_json(fig: Figure) -> dict[str, Any]:
    """The figure as plain JSON data for a data attribute (no plotly.js template: our layout sets the look)."""
    return {"data": fig.get("data", []), "layout": fig.get("layout", {})}


def sli_figure(
    *,
    series: Sequence[SliSeries],
    unit: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    thresholds: Sequence[Threshold] = (),
    compact: bool = False,
) -> Figure:
    """Draw an SLI per bucket and slice over [start, end) (a gap where a bucket has no data), with its rules' lines.

    Values are the SLI's own (a fail rate stays a fail rate): rates in %. `compact` is the list page's small chart:
    no axes titles, no legend, 90 px high.
    """
    factor = 100.0 if unit == "%" else 1.0
    suffix = " %" if unit == "%" else (f" {unit}" if unit else "")
    grid = buckets(start, end, step)
    xs = [_x(t) for t in grid]
    traces: list[dict[str, Any]] = []
    for i, s in enumerate(list(series)[:MAX_GROUPS]):
        by_time = {t: (v, n) for t, v, n in s.points}
        ys = [None if by_time.get(t, (None, 0))[0] is None else by_time[t][0] * factor for t in grid]
        name = group_label(s.group) if s.group else "all traffic"
        colour = PALETTE[i % len(PALETTE)]
        traces.append(
            {
                "x": xs,
                "y": ys,
                "name": name,
                "customdata": [by_time.get(t, (None, 0))[1] for t in grid],
                "hovertemplate": f"%{{x}} UTC<br>{name}: %{{y:.4~r}}{suffix}<br>n = %{{customdata:,}}<extra></extra>",
                "mode": "lines+markers",  # markers: a bucket with no neighbour is still seen
                "line": {"color": colour, "width": 1.5 if compact else 2},
                "marker": {"color": colour, "size": 4 if compact else 5},
                "connectgaps": False,
                "type": "scatter",
            }
        )
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for threshold in thresholds:
        _hline(shapes, annotations, threshold.value * factor, "" if compact else threshold.label)
    yaxis: dict[str, Any] = {"zeroline": False, "gridcolor": "#E5E7EB", "automargin": True, "ticksuffix": suffix}
    yaxis["rangemode"] = "tozero"
    layout = time_layout(
        start,
        end,
        height=90 if compact else 260,
        showlegend=not compact and len(traces) > 1,
        meta={"links": [], "step": int(step.total_seconds())},
        yaxis=yaxis,
        compact=compact,
    )
    return _figure(traces, layout, shapes, annotations)
