"""Reads for scores: a trace's scores, score conditions on trace lists, rates per evaluator version, and the
metric selectors (series, slices, declarations) that the metrics API, dashboards and SLIs read from rollups."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.backends.utils import CursorWrapper
from django.db.models import Avg, Count, Exists, F, OuterRef, Q, QuerySet, Sum

from apps.projects.models import Project
from apps.scores.metrics import (
    BUILTIN_SPECS,
    SOURCE_SPECS,
    MetricKind,
    MetricSpec,
    metric_spec_providers,
    score_spec_inferred,
    version_short,
)
from apps.scores.models import Rollup, Score, SessionSummary
from apps.scores.rollups import ALL_DIMS, DAY, HOUR, MINUTE, floor_time
from apps.scores.sketch import sketch_quantiles
from apps.traces.models import TRACE_PARTITION_WINDOW, Trace
from apps.traces.selectors import ScoreCondition


def rollup_cursor() -> CursorWrapper:
    """Open a cursor for rollup reads: the read replica when DATABASE_READ_URL sets one, else the primary."""
    return connections[settings.DASHBOARD_DB_ALIAS].cursor()


def trace_scores(*, trace: Trace) -> QuerySet[Score]:
    """Return the trace's scores by name and source."""
    # The trace's full key: one partition, the unique index (project, trace, ...).
    return Score.objects.filter(project_id=trace.project_id, trace=trace, partition_at=trace.partition_at).order_by(
        "name", "source"
    )


def traces_with_score(*, traces: QuerySet[Trace], condition: ScoreCondition) -> QuerySet[Trace]:
    """Return the traces that have a score meeting the condition (e.g. `refusal:failed`, `grounding<0.7`)."""
    matching = Score.objects.filter(
        project_id=OuterRef("project_id"),
        trace=OuterRef("pk"),
        partition_at=OuterRef("partition_at"),
        name=condition.name,
    )
    matching = matching.exclude(**condition.lookup) if condition.negate else matching.filter(**condition.lookup)
    return traces.filter(Exists(matching))


def score_names_known(*, project: Project, names: Sequence[str]) -> set[str]:
    """Return which of these score names the project has at least one score for (one indexed probe per name)."""
    return {name for name in set(names) if Score.objects.filter(project=project, name=name).exists()}


def trace_scores_map(*, project_id: int, trace_pks: Sequence[int]) -> dict[int, list[Score]]:
    """Return, per trace, its scores by name and source (one query for a page of traces, e.g. a session)."""
    out: dict[int, list[Score]] = {}
    scores = Score.objects.filter(project_id=project_id, trace_id__in=list(trace_pks)).order_by("trace_id", "name")
    for score in scores:
        out.setdefault(score.trace_id, []).append(score)
    return out


def failed_score_names(*, trace_pks: Sequence[int], project_id: int | None = None) -> dict[int, list[str]]:
    """Return, per trace, the names of its failing scores (one query for a page of traces)."""
    failed: dict[int, list[str]] = {}
    scores = Score.objects.filter(trace_id__in=trace_pks, passed=False)
    # The unique index leads with project: without it every partition would be scanned.
    if project_id is not None:
        scores = scores.filter(project_id=project_id)
    else:
        scores = scores.filter(project_id__in=Trace.objects.filter(id__in=trace_pks).values("project_id"))
    rows = scores.values_list("trace_id", "name").order_by("trace_id", "name").distinct()
    for trace_pk, name in rows:
        failed.setdefault(trace_pk, []).append(name)
    return failed


SESSION_SUMMARY_FIELDS = (
    "session_id", "trace_count", "first_at", "last_at", "users", "error_count", "failing_score_count",
    "feedback_count",
)  # fmt: skip


def session_summary_page(
    *, project_id: int, since: datetime, user_id: str = "", offset: int = 0, limit: int = 50
) -> list[dict[str, Any]]:
    """Return a page of the project's session summaries whose last activity is at or after `since`, most recent
    first (then by session id); with user_id, only sessions that user took part in. Kept by apps/scores/sessions.py
    within a drain period (~15 s) of their traces and scores."""
    rows = SessionSummary.objects.filter(project_id=project_id, last_at__gte=since)
    if user_id:
        rows = rows.filter(users__contains=[user_id])
    return list(rows.order_by("-last_at", "session_id").values(*SESSION_SUMMARY_FIELDS)[offset : offset + limit])


def score_rates_by_version(
    *, project: Project, since: datetime, sources: Sequence[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Return per (name, evaluator version) the count, pass rate (among scores with a verdict) and mean since then."""
    rows = (
        Score.objects.filter(
            project=project,
            trace_started_at__gte=since,
            partition_at__gte=since - TRACE_PARTITION_WINDOW,  # prunes partitions
            source__in=sources,
        )
        .values("name", "evaluator_version")
        .annotate(
            n=Count("id"),
            n_passed=Count("id", filter=Q(passed=True)),
            judged=Count("id", filter=Q(passed__isnull=False)),
            mean=Avg("value"),
        )
    )
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        rate = row["n_passed"] / row["judged"] if row["judged"] else None
        out[(row["name"], row["evaluator_version"])] = {"count": row["n"], "pass_rate": rate, "mean": row["mean"]}
    return out


def score_rows_for_traces(
    *, project_id: int, trace_pks: Sequence[int], exclude_sources: Sequence[str] = ()
) -> list[tuple[int, str, str, float | None, bool | None, Any]]:
    """Return (trace pk, name, source, value, passed, metadata confidence) of the traces' scores, in one query."""
    if not trace_pks:
        return []
    rows = (
        Score.objects.filter(project_id=project_id, trace_id__in=list(trace_pks))
        .exclude(source__in=list(exclude_sources))
        .values_list("trace_id", "name", "source", "value", "passed", "metadata__confidence")
    )
    return list(rows)


# --- metrics: read from rollups only, never from raw traces or scores ----------------------------------------------

INTERVALS = {"1m": MINUTE, "5m": 5 * MINUTE, "1h": HOUR, "1d": DAY}
# The rollup level each interval reads: 5-minute points merge minute rows.
_LEVEL = {MINUTE: MINUTE, 5 * MINUTE: MINUTE, HOUR: HOUR, DAY: DAY}
DIMENSION_BITS = {"model": 8, "prompt_version": 4, "route": 2, "environment": 1}
MAX_POINTS = 1500  # per series: 1 day of minutes, 5 days of 5 minutes, 2 months of hours, 4 years of days
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Buckets travel as epoch seconds: the groups of a series share their times, converted once each.
_EPOCH_SQL = "extract(epoch FROM {t})::bigint"
_NO_QUANTILES: list[float | None] = [None, None, None]
# Merged rows' sums, as integers (sum(bigint) is numeric, which Python would get as Decimal).
_SUMS = (
    "sum(r.count)::bigint, sum(r.value_count)::bigint, sum(r.value_sum), sum(r.passed)::bigint, sum(r.failed)::bigint"
)


def _datetimes() -> Callable[[int], datetime]:
    """Return a memoized epoch-seconds → UTC datetime conversion."""
    cache: dict[int, datetime] = {}

    def convert(seconds: int) -> datetime:
        t = cache.get(seconds)
        if t is None:
            t = cache[seconds] = datetime.fromtimestamp(seconds, tz=UTC)
        return t

    return convert


class MetricQueryError(ValueError):
    """A metric query that cannot be answered; names the parameter to blame."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(slots=True)
class MetricPoint:
    """One bucket of a series: the counts behind it and its figures (None where they do not apply)."""

    t: datetime
    count: int
    value: float | None
    pass_rate: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    passed: int = 0
    judged: int = 0
    value_sum: float = 0.0
    # Bias-corrected pass rate and its 95 % interval (apps/scores/corrected.py); None unless asked for and possible.
    corrected_pass_rate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n_labeled: int | None = None


@dataclass(frozen=True)
class MetricSeries:
    """The points of one slice (group values by dimension name), oldest first."""

    group: dict[str, str]
    points: list[MetricPoint]


@dataclass(frozen=True)
class MetricSlice:
    """A slice over a period: its count and headline value, and the change against the previous period."""

    group: dict[str, str]
    count: int
    value: float | None
    previous_count: int
    previous_value: float | None
    change: float | None  # value − previous_value (None when either is missing)
    worse_by: float  # the change signed by the metric's direction: positive = got worse


def _kept_mask(names: Iterable[str]) -> int:
    return sum(DIMENSION_BITS[n] for n in set(names))


def _names_with_rollups(project: Project) -> list[str]:
    """Distinct metric names the project has rollups for (a loose index scan over rollup_uniq_bucket)."""
    sql = """
    WITH RECURSIVE m(metric) AS (
        SELECT min(metric) FROM scores_rollup WHERE project_id = %(p)s
        UNION ALL
        SELECT (SELECT min(r.metric) FROM scores_rollup r WHERE r.project_id = %(p)s AND r.metric > m.metric)
        FROM m WHERE m.metric IS NOT NULL
    )
    SELECT metric FROM m WHERE metric IS NOT NULL
    """
    with rollup_cursor() as cursor:
        cursor.execute(sql, {"p": project.pk})
        return [row[0] for row in cursor.fetchall()]


def _declared_specs(project: Project, names: Sequence[str] | None) -> dict[str, MetricSpec]:
    specs: dict[str, MetricSpec] = {}
    for provider in metric_spec_providers():
        for name, spec in provider(project.pk, names).items():
            specs.setdefault(name, spec)
    return specs


def _inferred_spec(project: Project, name: str) -> MetricSpec | None:
    totals = (
        Rollup.objects.using(settings.DASHBOARD_DB_ALIAS)
        .filter(project=project, metric=name, resolution=DAY, dims=0)
        .aggregate(n=Sum("count"), judged=Sum(F("passed") + F("failed")))
    )
    if not totals["n"]:
        return None
    return score_spec_inferred(name, judged=bool(totals["judged"]))


def metric_spec_get(*, project: Project, name: str) -> MetricSpec | None:
    """Return the declaration of one metric: built-in, declared by its source or evaluator, else inferred from
    its rollups; None when the project has no such metric."""
    if name in BUILTIN_SPECS:
        return BUILTIN_SPECS[name]
    declared = _declared_specs(project, [name])
    if name in declared:
        return declared[name]
    if name in SOURCE_SPECS:
        return SOURCE_SPECS[name]
    return _inferred_spec(project, name)


def metric_specs_for(*, project: Project, names: Iterable[str]) -> dict[str, MetricSpec]:
    """Return the declarations of these metric names in one pass (as metric_spec_get would, name by name); an
    undeclared name is inferred from its rollups, and left out when it has none yet."""
    wanted = sorted(set(names))
    specs = {n: BUILTIN_SPECS[n] for n in wanted if n in BUILTIN_SPECS}
    rest = [n for n in wanted if n not in specs]
    declared = _declared_specs(project, rest) if rest else {}
    for name in rest:
        spec = declared.get(name) or SOURCE_SPECS.get(name)
        if spec is not None:
            specs[name] = spec
    specs.update(_inferred_specs(project, [n for n in rest if n not in specs]))
    return specs


def _inferred_specs(project: Project, names: Sequence[str]) -> dict[str, MetricSpec]:
    """_inferred_spec of several names in one query; a name without rollups is left out."""
    if not names:
        return {}
    totals = (
        Rollup.objects.using(settings.DASHBOARD_DB_ALIAS)
        .filter(project=project, metric__in=list(names), resolution=DAY, dims=0)
        .values("metric")
        .annotate(n=Sum("count"), judged=Sum(F("passed") + F("failed")))
    )
    return {row["metric"]: score_spec_inferred(row["metric"], judged=bool(row["judged"])) for row in totals if row["n"]}


def score_filter_options(*, project: Project) -> list[tuple[str, str]]:
    """Return suggestions for the trace list's score filter, (condition, what it means), from the declarations:
    `refusal:failed` reads "refusal (Refusal): pass rate: failed · 1 = refused (fail) · …"."""
    options = []
    for spec in metric_spec_list(project=project):
        if spec.name in BUILTIN_SPECS:
            continue
        has_verdicts = spec.kind == MetricKind.BINARY or (spec.source == "feedback" and bool(spec.value_labels))
        meaning = " · ".join(p for p in (spec.display_name, spec.value_meaning) if p)
        if has_verdicts:
            options.append((f"{spec.name}:failed", f"failed · {meaning}"))
        else:
            options.append((f"{spec.name}<", meaning))
    return options


def score_meanings(*, project: Project, names: Iterable[str]) -> dict[str, str]:
    """Return, per score name, what its values mean ("1 = refused (fail) · … · lower is better"), for filters."""
    specs = metric_specs_for(project=project, names=names)
    return {name: spec.value_meaning for name, spec in specs.items() if spec.value_meaning}


def scores_describe(*, project: Project, scores: Sequence[Score]) -> list[Score]:
    """Attach to each score what its declaration says: `spec`, `value_text` ('refused (fail)'), `value_meaning`,
    and `version_label` ('v3', or a hash's first 7 characters; the full version stays in `evaluator_version`)."""
    specs = metric_specs_for(project=project, names={score.name for score in scores})
    for score in scores:
        spec = specs.get(score.name)
        if spec is None and score.passed is not None:
            spec = score_spec_inferred(score.name, judged=True)  # no rollup yet: its verdict says it is binary
        score.spec = spec  # type: ignore[attr-defined]
        score.value_text = spec.value_text(score.value) if spec else ""  # type: ignore[attr-defined]
        score.value_meaning = spec.value_meaning if spec else ""  # type: ignore[attr-defined]
        version = score.evaluator_version
        label = spec.version_label(version) if spec else version_short(version)
        score.version_label = label  # type: ignore[attr-defined]
    return list(scores)


def metric_spec_list(*, project: Project) -> list[MetricSpec]:
    """Return every metric of the project (built-ins first, then scores by name) with its declaration: those
    with rollups, and those declared for the project (an enabled evaluator's, before its first score)."""
    names = [n for n in _names_with_rollups(project) if n not in BUILTIN_SPECS]
    declared = {k: v for k, v in _declared_specs(project, None).items() if k not in BUILTIN_SPECS}
    specs = list(BUILTIN_SPECS.values())
    wanted = sorted(set(names) | set(declared))
    # The undeclared names' kinds from their rollups, in one query rather than one per name.
    inferred = _inferred_specs(project, [n for n in wanted if n not in declared and n not in SOURCE_SPECS])
    for name in wanted:
        spec = declared.get(name) or SOURCE_SPECS.get(name) or inferred.get(name)
        if spec is not None:
            specs.append(spec)
    return specs


def _point(t: datetime, row: Sequence[Any], quantiles: list[float | None]) -> MetricPoint:
    count, value_count, value_sum, passed, failed = row
    judged = passed + failed
    mean = value_sum / value_count if value_count else None
    return MetricPoint(
        t,
        int(count),
        mean if mean is None or math.isfinite(mean) else None,  # a mean that overflowed: JSON has no infinity
        passed / judged if judged else None,
        quantiles[0],
        quantiles[1],
        quantiles[2],
        int(passed),
        int(judged),
        float(value_sum),
    )


def metric_range_check(*, start: datetime, end: datetime, interval: str) -> tuple[int, datetime]:
    """Validate a range and interval; return the bucket width (s) and the first bucket's start."""
    if interval not in INTERVALS:
        raise MetricQueryError("interval", f"use one of {', '.join(INTERVALS)}, not {interval!r}")
    if start > end:
        raise MetricQueryError("from", "must not be after to")
    step = INTERVALS[interval]
    first = floor_time(start, step)
    points = math.ceil((end - first).total_seconds() / step)
    if points > MAX_POINTS:
        raise MetricQueryError(
            "interval",
            f"{points} points at {interval} in this range; at most {MAX_POINTS}: widen it or shorten from–to",
        )
    return step, first


def metric_series(
    *,
    project: Project,
    metric: str,
    start: datetime,
    end: datetime,
    interval: str,
    group_by: Sequence[str] = (),
    filters: Mapping[str, str] | None = None,
    spec: MetricSpec | None = None,
) -> list[MetricSeries]:
    """Return the metric per bucket and slice over every bucket that overlaps [start, end), from the rollups.

    Buckets are aligned on the epoch (UTC); a bucket with no data is left out. `group_by` and `filters` use
    the dimension names (model, prompt_version, route, environment); filters are equalities.
    """
    filters = dict(filters or {})
    step, first = metric_range_check(start=start, end=end, interval=interval)
    if end <= start:
        return []
    # Whole buckets: the last one overlapping [start, end) counts to its end, as a stored hour or day row does,
    # also when it is merged from the minutes (5m, 15m) rather than read as one row.
    buckets_end = first + timedelta(seconds=step * math.ceil((end - first).total_seconds() / step))
    spec = spec or metric_spec_get(project=project, name=metric)
    quantiles = spec is not None and spec.has_quantiles
    level = _LEVEL[step]
    requested = list(group_by)  # the answer's groups keep the order asked for
    group_by = [d for d in DIMENSION_BITS if d in set(group_by)]  # canonical order
    needed = _kept_mask([*group_by, *filters])
    # Hour and day rows exist for every subset of dimensions; minute rows only with all four.
    mask = needed if level != MINUTE else ALL_DIMS
    direct = step == level and mask == needed  # one stored row per point: no merging
    where = [
        "r.project_id = %(project)s",
        "r.metric = %(metric)s",
        "r.resolution = %(level)s",
        "r.dims = %(mask)s",
        "r.bucket >= %(first)s",
        "r.bucket < %(end)s",
    ]
    params: dict[str, Any] = {
        "project": project.pk,
        "metric": metric,
        "level": level,
        "mask": mask,
        "first": first,
        "end": buckets_end,
        "step": timedelta(seconds=step),
        "epoch": _EPOCH,
    }
    for i, (name, value) in enumerate(sorted(filters.items())):
        where.append(f"r.{name} = %(f{i})s")
        params[f"f{i}"] = value
    group_cols = "".join(f", r.{d}" for d in group_by)
    where_sql = " AND ".join(where)
    series: dict[tuple[str, ...], list[MetricPoint]] = {}
    times = _datetimes()
    with rollup_cursor() as cursor:
        if direct:
            sketch_cols = ", r.sketch_keys, r.sketch_counts" if quantiles else ""
            order = "".join(f"r.{d}, " for d in group_by)
            cursor.execute(
                f"SELECT {_EPOCH_SQL.format(t='r.bucket')}{group_cols}, r.count, r.value_count, r.value_sum, "
                f"r.passed, r.failed{sketch_cols} FROM scores_rollup r WHERE {where_sql} ORDER BY {order}r.bucket",
                params,
            )
            g = len(group_by)
            for row in cursor.fetchall():
                qs = sketch_quantiles(row[6 + g], row[7 + g]) if quantiles else _NO_QUANTILES
                series.setdefault(tuple(row[1 : 1 + g]), []).append(_point(times(row[0]), row[1 + g : 6 + g], qs))
        else:
            t_expr = _EPOCH_SQL.format(t="date_bin(%(step)s, r.bucket, %(epoch)s)")
            groups = "".join(f", {d}" for d in group_by)
            sketches: dict[tuple, dict[int, int]] = {}
            if quantiles:
                cursor.execute(
                    f"SELECT {t_expr} AS t{group_cols}, u.k, sum(u.n) FROM scores_rollup r, "
                    f"unnest(r.sketch_keys, r.sketch_counts) AS u(k, n) WHERE {where_sql} GROUP BY t{groups}, u.k",
                    params,
                )
                for *key, k, n in cursor.fetchall():
                    sketches.setdefault(tuple(key), {})[k] = int(n)
            cursor.execute(
                f"SELECT {t_expr} AS t{group_cols}, {_SUMS} FROM scores_rollup r WHERE {where_sql} "
                f"GROUP BY t{groups} ORDER BY {''.join(f'{d}, ' for d in group_by)}t",
                params,
            )
            g = len(group_by)
            for row in cursor.fetchall():
                qs: list[float | None] = _NO_QUANTILES
                merged = sketches.get(tuple(row[: 1 + g]))
                if merged:
                    keys = sorted(merged)
                    qs = sketch_quantiles(keys, [merged[k] for k in keys])
                series.setdefault(tuple(row[1 : 1 + g]), []).append(_point(times(row[0]), row[1 + g :], qs))
    groups = {key: dict(zip(group_by, key, strict=True)) for key in series}
    ordered = sorted(series, key=lambda key: tuple(groups[key][d] for d in requested))
    return [MetricSeries(group={d: groups[key][d] for d in requested}, points=series[key]) for key in ordered]


def _slice_level(start: datetime, end: datetime) -> int:
    """The coarsest rollup level whose buckets tile [start, end) exactly."""
    for level in (DAY, HOUR):
        if floor_time(start, level) == start and floor_time(end, level) == end:
            return level
    return MINUTE


def metric_slices(
    *,
    project: Project,
    metric: str,
    start: datetime,
    end: datetime,
    group_by: Sequence[str],
    filters: Mapping[str, str] | None = None,
    spec: MetricSpec | None = None,
) -> list[MetricSlice]:
    """Return each slice's count and headline value over [start, end) and the previous period of the same length,
    worst change first (by the metric's direction). Minute-aligned bounds; hour/day-aligned ones read less."""
    filters = dict(filters or {})
    spec = spec or metric_spec_get(project=project, name=metric)
    start, end = floor_time(start, MINUTE), floor_time(end, MINUTE)
    previous_start = start - (end - start)
    level = min(_slice_level(start, end), _slice_level(previous_start, start))
    group_by = [d for d in DIMENSION_BITS if d in set(group_by)]
    needed = _kept_mask([*group_by, *filters])
    params: dict[str, Any] = {
        "project": project.pk,
        "metric": metric,
        "level": level,
        "mask": needed if level != MINUTE else ALL_DIMS,
        "prev": previous_start,
        "start": start,
        "end": end,
    }
    where = [
        "r.project_id = %(project)s",
        "r.metric = %(metric)s",
        "r.resolution = %(level)s",
        "r.dims = %(mask)s",
        "r.bucket >= %(prev)s",
        "r.bucket < %(end)s",
    ]
    for i, (name, value) in enumerate(sorted(filters.items())):
        where.append(f"r.{name} = %(f{i})s")
        params[f"f{i}"] = value
    cols = ", ".join(f"r.{d}" for d in group_by) or "''"
    sums = _SUMS
    sql = (
        f"SELECT {cols}, r.bucket >= %(start)s AS current, {sums} FROM scores_rollup r "
        f"WHERE {' AND '.join(where)} GROUP BY {', '.join(str(i + 1) for i in range(max(len(group_by), 1) + 1))}"
    )
    current: dict[tuple, MetricPoint] = {}
    previous: dict[tuple, MetricPoint] = {}
    g = max(len(group_by), 1)
    with rollup_cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            key = tuple(row[: len(group_by)])
            point = _point(start, row[g + 1 :], [None, None, None])
            (current if row[g] else previous)[key] = point
    headline = spec.headline if spec else "value"
    out = []
    for key, point in current.items():
        before = previous.get(key)
        value = getattr(point, headline)
        previous_value = getattr(before, headline) if before else None
        change = value - previous_value if value is not None and previous_value is not None else None
        out.append(
            MetricSlice(
                group=dict(zip(group_by, key, strict=True)),
                count=point.count,
                value=value,
                previous_count=before.count if before else 0,
                previous_value=previous_value,
                change=change,
                worse_by=spec.worse(change) if spec else 0.0,
            )
        )
    out.sort(key=lambda s: (-s.worse_by, -s.count, tuple(s.group.values())))
    return out


def metric_totals(
    *,
    project: Project,
    metric: str,
    start: datetime,
    end: datetime,
    group_by: Sequence[str] = (),
    filters: Mapping[str, str] | None = None,
    quantiles: bool = False,
) -> list[tuple[dict[str, str], MetricPoint]]:
    """Return one point per slice over the minutes in [start, end) (a rolling window: SLI evaluation), with the
    quantiles of the merged sketches when asked; slices without data are left out.

    Whole hours inside the range are read from the hour rows (one per slice and hour), the ragged ends from the
    minute rows: a 24 h baseline reads ~24 rows per slice instead of 1,440."""
    filters = dict(filters or {})
    group_by = [d for d in DIMENSION_BITS if d in set(group_by)]
    for name in filters:
        if name not in DIMENSION_BITS:
            raise MetricQueryError("filters", f"unknown dimension {name!r}")
    start, end = floor_time(start, MINUTE), floor_time(end, MINUTE)
    first_hour = floor_time(start + timedelta(seconds=HOUR - 1), HOUR)
    last_hour = floor_time(end, HOUR)
    params: dict[str, Any] = {"project": project.pk, "metric": metric, "start": start, "end": end}
    if first_hour < last_hour:
        params.update(h0=first_hour, h1=last_hour, mask=_kept_mask([*group_by, *filters]))
        levels = (
            "((r.resolution = 60 AND r.dims = 15 AND (r.bucket >= %(start)s AND r.bucket < %(h0)s "
            "OR r.bucket >= %(h1)s AND r.bucket < %(end)s)) "
            "OR (r.resolution = 3600 AND r.dims = %(mask)s AND r.bucket >= %(h0)s AND r.bucket < %(h1)s))"
        )
    else:
        levels = "r.resolution = 60 AND r.dims = 15 AND r.bucket >= %(start)s AND r.bucket < %(end)s"
    where = ["r.project_id = %(project)s", "r.metric = %(metric)s", levels]
    for i, (name, value) in enumerate(sorted(filters.items())):
        where.append(f"r.{name} = %(f{i})s")
        params[f"f{i}"] = value
    cols = "".join(f"r.{d}, " for d in group_by)
    group = f"GROUP BY {', '.join(f'r.{d}' for d in group_by)}" if group_by else ""
    where_sql = " AND ".join(where)
    g = len(group_by)
    sketches: dict[tuple, dict[int, int]] = {}
    out: list[tuple[dict[str, str], MetricPoint]] = []
    with rollup_cursor() as cursor:
        if quantiles:
            cursor.execute(
                f"SELECT {cols}u.k, sum(u.n)::bigint FROM scores_rollup r, unnest(r.sketch_keys, r.sketch_counts) "
                f"AS u(k, n) WHERE {where_sql} GROUP BY {''.join(f'r.{d}, ' for d in group_by)}u.k",
                params,
            )
            for *key, k, n in cursor.fetchall():
                sketches.setdefault(tuple(key), {})[k] = int(n)
        cursor.execute(f"SELECT {cols}{_SUMS} FROM scores_rollup r WHERE {where_sql} {group}", params)
        for row in cursor.fetchall():
            if row[g] is None:  # no rows at all (an aggregate without GROUP BY still answers one row)
                continue
            key = tuple(row[:g])
            qs: list[float | None] = _NO_QUANTILES
            merged = sketches.get(key)
            if merged:
                keys = sorted(merged)
                qs = sketch_quantiles(keys, [merged[k] for k in keys])
            out.append((dict(zip(group_by, key, strict=True)), _point(start, row[g:], qs)))
    out.sort(key=lambda item: tuple(item[0].values()))
    return out


@dataclass(frozen=True)
class RouteFailures:
    """A route's traffic and failures over a period: error count and failed verdicts of every score."""

    route: str
    traces: int
    errors: int
    failed: int
    judged: int

    @property
    def failures(self) -> int:
        """Errors plus failed verdicts: what the dashboards rank routes by."""
        return self.errors + self.failed


def route_failure_list(
    *,
    project: Project,
    names: Sequence[str],
    start: datetime,
    end: datetime,
    filters: Mapping[str, str] | None = None,
    limit: int = 10,
) -> list[RouteFailures]:
    """Return the routes with the most errors and failed verdicts (of these score names) over [start, end) from the
    rollups, worst first.

    Minute-aligned bounds; hour- or day-aligned ones read the coarser rollups (one row per route and bucket).
    """
    filters = {k: v for k, v in (filters or {}).items() if k in DIMENSION_BITS}
    start, end = floor_time(start, MINUTE), floor_time(end, MINUTE)
    level = _slice_level(start, end)
    filter_sql = "".join(f" AND r.{name} = %(f_{name})s" for name in sorted(filters))
    params: dict[str, Any] = {
        **{f"f_{name}": value for name, value in filters.items()},
        "project": project.pk,
        "level": level,
        "mask": _kept_mask(["route", *filters]) if level != MINUTE else ALL_DIMS,
        "start": start,
        "end": end,
        "builtins": list(BUILTIN_SPECS),
        "metrics": ["traces", "errors", *(n for n in names if n not in BUILTIN_SPECS)],
        "limit": limit,
    }
    # `errors` is a 0/1 value per trace: its value_sum is the number of failed traces.
    sql = f"""
    SELECT * FROM (
        SELECT r.route,
               coalesce(sum(r.count) FILTER (WHERE r.metric = 'traces'), 0)::bigint AS traces,
               coalesce(sum(r.value_sum) FILTER (WHERE r.metric = 'errors'), 0)::bigint AS errors,
               coalesce(sum(r.failed) FILTER (WHERE r.metric <> ALL(%(builtins)s)), 0)::bigint AS failed,
               coalesce(sum(r.passed + r.failed) FILTER (WHERE r.metric <> ALL(%(builtins)s)), 0)::bigint AS judged
        FROM scores_rollup r
        WHERE r.project_id = %(project)s AND r.resolution = %(level)s AND r.dims = %(mask)s
          AND r.bucket >= %(start)s AND r.bucket < %(end)s AND r.metric = ANY(%(metrics)s){filter_sql}
        GROUP BY r.route
    ) routes
    WHERE errors + failed > 0
    ORDER BY errors + failed DESC, traces DESC, route
    LIMIT %(limit)s
    """
    with rollup_cursor() as cursor:
        cursor.execute(sql, params)
        return [RouteFailures(route, int(t), int(e), int(f), int(j)) for route, t, e, f, j in cursor.fetchall()]


def score_failed_list(
    *,
    project: Project,
    names: Sequence[str],
    start: datetime,
    end: datetime,
    filters: Mapping[str, str] | None = None,
    limit: int = 10,
) -> list[Score]:
    """Return the latest failed scores of these names whose trace started in [start, end), newest first, each with
    its trace (trace_id and name) attached.

    Per name, the hour rollups say where the latest failures are: the scores are read from the latest hour
    holding the `limit`-th failure on, through score_failed_recent (a partial index of failed scores only, newest
    first), never through the passing scores between the range's end and its latest failure (at 1M traces whose
    latest failure was 16 days back: 235 ms -> 2 ms warm).
    """
    dims = {k: v for k, v in (filters or {}).items() if k in DIMENSION_BITS}  # the trace's dims, copied
    found: list[Score] = []
    for name in names:
        hours = (
            Rollup.objects.using(settings.DASHBOARD_DB_ALIAS)
            .filter(
                project=project,
                metric=name,
                resolution=HOUR,
                dims=_kept_mask(dims),
                bucket__gte=floor_time(start, HOUR),
                bucket__lt=end,
                failed__gt=0,
                **dims,
            )
            .order_by("-bucket")
            .values_list("bucket", "failed")[:limit]
        )
        since, failures = None, 0
        for bucket, failed in hours:
            since, failures = bucket, failures + failed
            if failures >= limit:
                break
        if since is None:
            continue  # no failure in the range (newer ones not rolled up yet are at most a minute old)
        found.extend(
            Score.objects.filter(
                project=project,
                name=name,
                passed=False,
                trace_started_at__gte=max(start, since),
                trace_started_at__lt=end,
                # A score's partition_at is its trace's, within TRACE_PARTITION_WINDOW of the start: partitions
                # prune to the days around the range instead of opening every day's index.
                partition_at__gte=max(start, since) - TRACE_PARTITION_WINDOW,
                partition_at__lt=end + TRACE_PARTITION_WINDOW,
                **dims,
            )
            .only("name", "value", "label", "explanation", "source", "trace_started_at", "trace_id", "partition_at")
            .order_by("-trace_started_at")[:limit]
        )
    found.sort(key=lambda s: (s.trace_started_at, s.pk), reverse=True)
    found = found[:limit]
    # A score's partition_at is its trace's: the trace read opens those days' partitions only, not every day's
    # index (at 1M traces over 30 days: 15 ms -> ~1 ms).
    traces = Trace.objects.filter(
        project=project, pk__in=[s.trace_id for s in found], partition_at__in=sorted({s.partition_at for s in found})
    ).only("id", "trace_id", "name")
    by_pk = {t.pk: t for t in traces}
    for score in found:
        score.trace = by_pk[score.trace_id]
    return found
