"""Reads for alerting: SLIs and their values from the rollups (through the scores metric selectors, never raw
rows), rules, alert states and history, channels and deliveries. Dashboards compose these."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from apps.datasets.divergence import divergence_gap_values, divergence_list, gap_size
from apps.judges.selectors import judge_regression
from apps.projects.models import Project
from apps.scores.corrected import calibration_pairs, label_window, metric_series_corrected, rectifier_for_group
from apps.scores.metrics import MetricSpec
from apps.scores.ppi import MIN_LABELED
from apps.scores.rollups import MINUTE, floor_time
from apps.scores.selectors import metric_series, metric_spec_get, metric_totals
from apps.slis.engine import (
    DIMENSIONS,
    SliValue,
    breached,
    duration_seconds,
    sli_corrected_value,
    sli_point_value,
    sli_unit,
    slice_key,
    slice_text,
    state_next,
    value_format,
)
from apps.slis.models import AlertFlip, AlertRule, AlertState, Channel, Notification, Sli

BASELINE_PERIOD = timedelta(hours=24)
# SLIs on a judge's agreement with people (apps/judges): the metric names the judge by id.
JUDGE_REGRESSION_PREFIX = "judge_kappa_drop:"
SPARKLINE_POINTS = 24


def sli_list(*, project: Project) -> QuerySet[Sli]:
    """Return the project's SLIs by name."""
    return Sli.objects.filter(project=project).order_by("name")


def sli_get(*, project: Project, sli_id: int) -> Sli | None:
    """Return one SLI of the project, or None."""
    return Sli.objects.filter(project=project, id=sli_id).first()


def sli_spec(*, project: Project, sli: Sli) -> MetricSpec | None:
    """Return the declaration of the SLI's metric (None before any data of an undeclared score)."""
    return metric_spec_get(project=project, name=sli.metric)


def sli_corrects(*, sli: Sli, spec: MetricSpec | None) -> bool:
    """Whether the SLI may use the bias-corrected rate: asked for, a pass/fail rate, of a metric a judge writes."""
    return sli.use_corrected and sli.aggregation in ("pass_rate", "fail_rate") and spec is not None and spec.judged


def sli_values(
    *,
    project: Project,
    sli: Sli,
    start: datetime,
    end: datetime,
    group_by: Sequence[str] = (),
    spec: MetricSpec | None = None,
) -> list[SliValue]:
    """Return the SLI per slice over the minutes in [start, end), from the minute rollups (bias-corrected per slice
    when the SLI asks for it and its slice's labeled random sample is big enough; see apps/scores/corrected.py).

    A judge-regression SLI (metric `judge_kappa_drop:<judge id>`) is read from the judge's calibration instead:
    its value is the baseline κ of the judge's current version minus κ over the verdicts made in the window.
    An offline-gap SLI is read from the divergence of offline runs and live traffic.
    """
    if sli.metric.startswith(JUDGE_REGRESSION_PREFIX):
        return [_judge_regression_value(project, sli, start, end)]
    if sli.aggregation == Sli.Aggregation.OFFLINE_GAP:
        gaps = divergence_gap_values(
            project=project, metric=sli.metric, start=start, end=end, group_by=group_by, filters=sli.filters
        )
        return [SliValue(group=group, value=gap, samples=samples) for group, gap, samples in gaps]
    spec = spec if spec is not None else sli_spec(project=project, sli=sli)
    rows = metric_totals(
        project=project,
        metric=sli.metric,
        start=start,
        end=end,
        group_by=group_by,
        filters=sli.filters,
        quantiles=sli.aggregation in ("p50", "p95", "p99"),
    )
    pairs = None
    if sli_corrects(sli=sli, spec=spec):
        labels_from, labels_to = label_window(start=start, end=end)
        pairs = calibration_pairs(
            project=project, metric=sli.metric, start=labels_from, end=labels_to, filters=sli.filters
        )
    out = []
    for group, point in rows:
        if pairs is not None:
            rectifier = rectifier_for_group(pairs, group)
            value, samples, basis = sli_corrected_value(point, sli.aggregation, rectifier, sli.corrected_min_labels)
            out.append(SliValue(group=group, value=value, samples=samples, basis=basis))
            continue
        value, samples = sli_point_value(point, sli.aggregation, spec)
        out.append(SliValue(group=group, value=value, samples=samples))
    return out


def _judge_regression_value(project: Project, sli: Sli, start: datetime, end: datetime) -> SliValue:
    """Return a judge's κ drop against its current version's baseline over [start, end), with the verdicts behind it."""
    try:
        judge_id = int(sli.metric.removeprefix(JUDGE_REGRESSION_PREFIX))
    except ValueError:
        return SliValue(group={}, value=None, samples=0)
    regression = judge_regression(project=project, judge_id=judge_id, start=start, end=end)
    return SliValue(group={}, value=regression.drop, samples=regression.samples if regression.drop is not None else 0)


def sli_value_now(
    *, project: Project, sli: Sli, window: str = "1h", group_by: Sequence[str] = (), now: datetime | None = None
) -> list[SliValue]:
    """Return the SLI per slice over the last `window` (the current minute included)."""
    end = floor_time(now or timezone.now(), MINUTE) + timedelta(minutes=1)
    return sli_values(
        project=project, sli=sli, start=end - timedelta(seconds=duration_seconds(window)), end=end, group_by=group_by
    )


@dataclass(frozen=True)
class SliSeries:
    """One slice of an SLI over time: (bucket start, value, samples) oldest first."""

    group: dict[str, str]
    points: list[tuple[datetime, float | None, int]]


def sli_series(
    *,
    project: Project,
    sli: Sli,
    start: datetime,
    end: datetime,
    interval: str = "1h",
    group_by: Sequence[str] = (),
    spec: MetricSpec | None = None,
) -> list[SliSeries]:
    """Return the SLI per bucket and slice over [start, end) (metric_series: buckets with no data left out)."""
    if sli.aggregation == Sli.Aggregation.OFFLINE_GAP:
        return _offline_gap_series(project, sli, start, end, interval, group_by)
    spec = spec if spec is not None else sli_spec(project=project, sli=sli)
    query = {
        "project": project,
        "metric": sli.metric,
        "start": start,
        "end": end,
        "interval": interval,
        "group_by": group_by,
        "filters": sli.filters,
        "spec": spec,
    }
    corrects = sli_corrects(sli=sli, spec=spec)
    series = metric_series_corrected(**query)[0] if corrects else metric_series(**query)
    needed = max(sli.corrected_min_labels, MIN_LABELED)
    out = []
    for s in series:
        points = []
        for p in s.points:
            value, samples = sli_point_value(p, sli.aggregation, spec)
            if corrects and (p.n_labeled or 0) >= needed and p.corrected_pass_rate is not None:
                value = p.corrected_pass_rate if sli.aggregation == "pass_rate" else 1.0 - p.corrected_pass_rate
            points.append((p.t, value, samples))
        out.append(SliSeries(group=s.group, points=points))
    return out


def _offline_gap_series(
    project: Project, sli: Sli, start: datetime, end: datetime, interval: str, group_by: Sequence[str]
) -> list[SliSeries]:
    """An offline-gap SLI over time: one series per model/prompt version with an offline value (slices by route or
    environment are not kept: offline runs have none)."""
    items = divergence_list(
        project=project,
        start=start,
        end=end,
        interval=interval,
        metric=sli.metric,
        prompt_version=sli.filters.get("prompt_version", ""),
        model=sli.filters.get("model", ""),
    )
    out = []
    for item in items:
        group = {d: getattr(item, d) for d in ("model", "prompt_version") if d in group_by}
        points = [(p.t, gap_size(item.spec, p), p.samples) for p in item.points]
        out.append(SliSeries(group=group, points=points))
    return out


def sparkline_path(points: Sequence[tuple[datetime, float | None, int]], width: int = 120, height: int = 24) -> str:
    """Return an SVG polyline `points` attribute for a sparkline (the alert page; SLI pages draw panels)."""
    values = [(t.timestamp(), v) for t, v, _ in points if v is not None]
    if not values:
        return ""
    if len(values) == 1:  # one bucket: a flat line at mid height
        return f"0,{height / 2:.1f} {width},{height / 2:.1f}"
    t0, t1 = values[0][0], values[-1][0]
    lo, hi = min(v for _, v in values), max(v for _, v in values)
    span_t, span_v = (t1 - t0) or 1.0, (hi - lo) or 1.0
    return " ".join(
        f"{(t - t0) / span_t * width:.1f},{height - 2 - (v - lo) / span_v * (height - 4):.1f}" for t, v in values
    )


@dataclass(frozen=True)
class SliRow:
    """An SLI for the list and detail pages: the value now (all traffic and per slice) and its rules' states.

    The charts are panels of their own (`sli_chart`), loaded by the page after it is shown."""

    sli: Sli
    unit: str
    value: SliValue | None
    slices: list[SliValue]  # the value now per slice of the group-by
    states: dict[str, int]


RANGES = {"24h": (24, "1h"), "7d": (24 * 7, "1h"), "30d": (24 * 30, "1d")}


def sli_overview(*, project: Project, sli: Sli, group_by: Sequence[str] = (), now: datetime | None = None) -> SliRow:
    """Return an SLI's value over the last hour, for all traffic and per slice of `group_by`."""
    now = now or timezone.now()
    spec = sli_spec(project=project, sli=sli)
    end = floor_time(now, MINUTE) + timedelta(minutes=1)
    total = sli_values(project=project, sli=sli, start=end - timedelta(hours=1), end=end, spec=spec)
    slices = (
        sli_values(project=project, sli=sli, start=end - timedelta(hours=1), end=end, group_by=group_by, spec=spec)
        if group_by
        else []
    )
    states: dict[str, int] = {}
    for state in AlertState.objects.filter(rule__sli=sli).values_list("state", flat=True):
        states[state] = states.get(state, 0) + 1
    return SliRow(
        sli=sli,
        unit=sli_unit(sli.aggregation, spec),
        value=total[0] if total else None,
        slices=sorted(slices, key=lambda v: slice_key(v.group)),
        states=states,
    )


@dataclass(frozen=True)
class SliChart:
    """An SLI chart placed on a page: the template that draws its placeholder, and that template's context."""

    template: str
    context: dict[str, Any]


# (project, sli, range name, group_by, compact) -> the chart's placeholder. Dashboards owns the panel framework and
# sits above slis, so it registers how an SLI chart is placed (DashboardsConfig.ready), as traces' page panels do.
SliChartPlacer = Callable[[Project, Sli, str, Sequence[str], bool], SliChart]
_chart_placers: list[SliChartPlacer] = []


def sli_chart_placer_register(placer: SliChartPlacer) -> None:
    """Let dashboards place SLI charts as panels (called from its AppConfig.ready)."""
    if placer not in _chart_placers:
        _chart_placers.append(placer)


def sli_chart(
    *, project: Project, sli: Sli, range_name: str = "24h", group_by: Sequence[str] = (), compact: bool = False
) -> SliChart | None:
    """Return the placeholder of an SLI's chart over the range, one line per slice of group_by (None: no charts)."""
    for placer in _chart_placers:
        return placer(project, sli, range_name, group_by, compact)
    return None


def rule_list(*, project: Project, sli: Sli | None = None) -> QuerySet[AlertRule]:
    """Return the project's alert rules (of one SLI when given), oldest first."""
    rules = AlertRule.objects.filter(project=project).select_related("sli").prefetch_related("channels")
    return (rules.filter(sli=sli) if sli else rules).order_by("id")


def rule_get(*, project: Project, rule_id: int) -> AlertRule | None:
    """Return one alert rule of the project, or None."""
    return rule_list(project=project).filter(id=rule_id).first()


def channel_list(*, project: Project) -> QuerySet[Channel]:
    """Return the project's notification channels by name."""
    return Channel.objects.filter(project=project).order_by("name")


def channel_get(*, project: Project, channel_id: int) -> Channel | None:
    """Return one channel of the project, or None."""
    return Channel.objects.filter(project=project, id=channel_id).first()


def alert_list(
    *, project: Project, states: Sequence[str] | None = None, rule: AlertRule | None = None
) -> QuerySet[AlertState]:
    """Return the project's alerts (rule × slice states), firing first, then by the latest change."""
    alerts = AlertState.objects.filter(project=project).select_related("rule", "rule__sli")
    if states:
        alerts = alerts.filter(state__in=list(states))
    if rule is not None:
        alerts = alerts.filter(rule=rule)
    order = {"firing": 0, "pending": 1, "no_data": 2, "resolved": 3, "ok": 4}
    from django.db.models import Case, IntegerField, Value, When

    rank = Case(*(When(state=s, then=Value(i)) for s, i in order.items()), output_field=IntegerField())
    return alerts.annotate(rank=rank).order_by("rank", "-since", "id")


def alert_get(*, project: Project, alert_id: int) -> AlertState | None:
    """Return one alert state of the project, or None."""
    return AlertState.objects.filter(project=project, id=alert_id).select_related("rule", "rule__sli").first()


def alert_flips(
    *, project: Project, rule: AlertRule | None = None, alert: AlertState | None = None, limit: int = 200
) -> list[AlertFlip]:
    """Return the latest recorded transitions, newest first."""
    flips = AlertFlip.objects.filter(project=project).select_related("rule", "rule__sli", "alert")
    if rule is not None:
        flips = flips.filter(rule=rule)
    if alert is not None:
        flips = flips.filter(alert=alert)
    return list(flips.order_by("-at", "-id")[:limit])


def notification_list(*, project: Project, limit: int = 100, alert: AlertState | None = None) -> list[Notification]:
    """Return the latest deliveries (of one alert's transitions when given), newest first."""
    rows = Notification.objects.filter(project=project).select_related("channel", "flip")
    if alert is not None:
        rows = rows.filter(flip__alert=alert)
    return list(rows.order_by("-created_at", "-id")[:limit])


# --- baselines -----------------------------------------------------------------------------------------------------


def baseline_for(
    *,
    group: Mapping[str, str],
    previous: Mapping[str, SliValue],
    min_samples: int,
    unit: str,
    period: timedelta = BASELINE_PERIOD,
    siblings_period: Mapping[str, SliValue] | None = None,
) -> dict:
    """Return what a slice is compared against: its own previous period when it has min_samples there (it
    changed, not arrived), else its predecessor: the other version on the same other dimensions with the most
    samples over the previous period up to now (`siblings_period`; a version deployed beside the new one counts).
    """
    siblings_period = previous if siblings_period is None else siblings_period
    hours = int(period.total_seconds() // 3600)
    own = previous.get(slice_key(group))
    if own is not None and own.samples >= min_samples and own.value is not None:
        return {
            "kind": "previous_period",
            "value": own.value,
            "samples": own.samples,
            "slice": dict(group),
            "description": f"{value_format(own.value, unit)} on the same slice over the previous {hours} h",
        }
    for dim in ("prompt_version", "model"):
        if dim not in group:
            continue
        siblings = [
            v
            for v in siblings_period.values()
            if v.value is not None
            and v.group.get(dim) != group[dim]
            and all(v.group.get(d) == group[d] for d in group if d != dim)
        ]
        if siblings:
            best = max(siblings, key=lambda v: (v.samples, v.group.get(dim, "")))
            return {
                "kind": "predecessor",
                "value": best.value,
                "samples": best.samples,
                "slice": dict(best.group),
                "description": (
                    f"{value_format(best.value, unit)} on {dim}={best.group[dim] or '(none)'} over the last {hours} h"
                ),
            }
    if own is not None and own.value is not None:
        return {
            "kind": "previous_period",
            "value": own.value,
            "samples": own.samples,
            "slice": dict(group),
            "description": f"{value_format(own.value, unit)} on the same slice over the previous {hours} h "
            f"({own.samples} samples)",
        }
    return {
        "kind": "none",
        "value": None,
        "samples": 0,
        "slice": dict(group),
        "description": f"no earlier data on this slice or its predecessor in the previous {hours} h",
    }


# --- preview -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewFlip:
    """A transition the rule would have made."""

    at: datetime
    slice: str
    from_state: str
    to_state: str
    value: float | None
    samples: int


def rule_preview(
    *,
    project: Project,
    sli: Sli,
    comparator: str,
    threshold: float,
    min_samples: int,
    hold: str,
    group_by: Sequence[str],
    days: int = 7,
    now: datetime | None = None,
) -> tuple[list[PreviewFlip], str]:
    """Replay a rule over the last days on the hourly rollups: the transitions it would have made, and the unit.

    Each hour is judged as one window (an approximation of the rule's own window, stated on the page)."""
    now = now or timezone.now()
    spec = sli_spec(project=project, sli=sli)
    end = floor_time(now, MINUTE) + timedelta(minutes=1)
    series = sli_series(
        project=project,
        sli=sli,
        start=end - timedelta(days=days),
        end=end,
        interval="1h",
        group_by=[d for d in DIMENSIONS if d in group_by],
        spec=spec,
    )
    hold_delta = timedelta(seconds=duration_seconds(hold))
    flips: list[PreviewFlip] = []
    for s in series:
        by_time = {t: (v, n) for t, v, n in s.points}
        if not by_time:
            continue
        state, started = "ok", None
        t = min(by_time)
        while t < end:
            value, samples = by_time.get(t, (None, 0))
            condition = breached(
                value=value, samples=samples, comparator=comparator, threshold=threshold, min_samples=min_samples
            )
            at = t + timedelta(hours=1)
            new, started = state_next(state=state, started_at=started, condition=condition, now=at, hold=hold_delta)
            if new != state:
                flips.append(PreviewFlip(min(at, now), slice_text(s.group), state, new, value, samples))
                state = new
            t += timedelta(hours=1)
    flips.sort(key=lambda f: (f.at, f.slice))
    return flips, sli_unit(sli.aggregation, spec)


@dataclass(frozen=True)
class RuleLine:
    """Where an enabled rule draws its line on a chart of the SLI's metric: the value and which figure it is on."""

    field: str  # the metric figure the line belongs on: pass_rate, value, p50, p95, p99 or count
    value: float
    label: str


# An SLI aggregation is drawn on the chart figure it reads; a fail-rate line goes on the pass-rate figure, mirrored.
_AGGREGATION_FIELD = {"pass_rate": "pass_rate", "fail_rate": "pass_rate", "mean": "value", "count": "count"}


def rule_lines(*, project: Project, metric: str) -> list[RuleLine]:
    """Return the threshold (or SLO objective) of every enabled rule on an SLI of this metric, for charts."""
    return rule_lines_by_metric(project=project, metrics=[metric]).get(metric, [])


def rule_lines_by_metric(
    *,
    project: Project,
    metrics: Sequence[str] | None = None,
    specs: Mapping[str, MetricSpec] | None = None,
) -> dict[str, list[RuleLine]]:
    """Return rule_lines of these metrics (every metric when None) in one query, keyed by metric; `specs` are
    declarations the caller has already read (a threshold's unit), the rest are read here."""
    rules = AlertRule.objects.filter(project=project, is_enabled=True).select_related("sli")
    if metrics is not None:
        rules = rules.filter(sli__metric__in=list(metrics))
    lines: dict[str, list[RuleLine]] = {}
    known: dict[str, MetricSpec | None] = dict(specs or {})
    for rule in rules.order_by("id"):
        metric, aggregation = rule.sli.metric, rule.sli.aggregation
        field = _AGGREGATION_FIELD.get(aggregation, aggregation)
        where = slice_text(rule.sli.filters) if rule.sli.filters else ""
        if rule.objective is not None:
            value, text = rule.objective, f"SLO {rule.objective * 100:g} %"
        else:
            if metric not in known:
                known[metric] = metric_spec_get(project=project, name=metric)
            unit = sli_unit(aggregation, known[metric])
            value = 1 - rule.threshold if aggregation == "fail_rate" else rule.threshold
            text = f"{rule.sli.name} {rule.comparator} {value_format(rule.threshold, unit)}"
        lines.setdefault(metric, []).append(RuleLine(field, value, f"{text} ({where})" if where else text))
    return lines
