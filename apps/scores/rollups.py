"""Rollups: per project, minute and metric, recomputed from their rows whenever a minute is marked dirty.

1. Writers append (project, minute) keys to `RollupDirty` in their own transaction: scores_upsert for the
   traces it scored, the post-ingest batch job for the traces it stored, and a trigger on traces_trace for the
   minute a trace's start time moved away from (migration 0005).
2. The beat job (`rollups_drain_task`, every 15 s) takes up to ROLLUP_DRAIN_BATCH distinct minutes (every
   dirty row of each) under one advisory lock, deletes them and, in the same transaction, recomputes them with
   one statement per level and run of nearby buckets: each minute from the raw rows with
   `INSERT … SELECT … ON CONFLICT DO UPDATE` (slices that vanished are deleted), then the hours and days
   containing them from the level below. A retry, a redelivered job, a duplicate or a late row only ever
   causes another recompute of the same rows: never a blind increment.
3. Concurrent drains are serialised by the advisory lock: two recomputes of one minute from different
   snapshots could otherwise commit in the wrong order.

Semantics (what `tests/scores/test_rollups.py` compares against a direct SQL computation):
- a trace counts in the minute of its `started_at`, sliced by its current model, prompt version, route and
  environment; traces without spans (placeholders for scores that came first) are not traffic;
- a score counts in its trace's minute and slice, under its name (names equal to a built-in are left out);
- `value` statistics use finite values only; `passed`/`failed` count verdicts; latency and score values
  carry a DDSketch (apps/scores/sketch.py).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.core.jobs import advisory_xact_lock
from apps.core.prune import rows_delete_in_batches
from apps.scores.metrics import BUILTIN_METRICS
from apps.scores.models import Rollup
from apps.scores.sketch import ordinal_sql
from apps.traces.models import TRACE_PARTITION_WINDOW

MINUTE, HOUR, DAY = 60, 3600, 86400
ALL_DIMS = 15  # model 8, prompt_version 4, route 2, environment 1 (the order of GROUPING(...) bits)
DIMENSIONS = ("model", "prompt_version", "route", "environment")
# pg_advisory lock key of the recompute (drain and rebuild): any constant no other code uses.
ROLLUP_LOCK_KEY = 0x5CA1AB1E
# Minutes (hours) farther apart than this are recomputed in separate statements: one statement per cluster
# keeps the raw-row range scan tight when a batch mixes late data with the current minute.
CLUSTER_GAP = 15

_KEY_COLS = "metric, resolution, dims, bucket, model, prompt_version, route, environment"
# The recompute sorts and groups its observations by the metric and slice texts: under "C" they compare as bytes
# (abbreviated keys, no strcoll: several times faster on the database's C.UTF-8), and go back to the columns'
# own collation in `fresh`, where they meet the table's rows.
_DEFAULT_COLLATION = 'metric COLLATE "default" AS metric'
_DEFAULT_COLLATION_DIMS = ", ".join(
    f'{d} COLLATE "default" AS {d}' for d in ("model", "prompt_version", "route", "environment")
)
_VALUE_COLS = "count, value_count, value_sum, passed, failed, sketch_keys, sketch_counts"

# Upsert the fresh rows of the recomputed buckets, skipping rows that did not change, and delete the buckets'
# rows whose slice has no data any more. Needs CTE `fresh` with the key and value columns.
_UPSERT_AND_DELETE = f"""
, up AS (
    INSERT INTO scores_rollup (project_id, {_KEY_COLS}, {_VALUE_COLS})
    SELECT %(project)s, {_KEY_COLS}, {_VALUE_COLS} FROM fresh
    ON CONFLICT (project_id, {_KEY_COLS}) DO UPDATE SET
        count = EXCLUDED.count, value_count = EXCLUDED.value_count, value_sum = EXCLUDED.value_sum,
        passed = EXCLUDED.passed, failed = EXCLUDED.failed, sketch_keys = EXCLUDED.sketch_keys,
        sketch_counts = EXCLUDED.sketch_counts
    WHERE ({", ".join("scores_rollup." + c for c in _VALUE_COLS.split(", "))})
        IS DISTINCT FROM ({", ".join("EXCLUDED." + c for c in _VALUE_COLS.split(", "))})
)
DELETE FROM scores_rollup r
WHERE r.project_id = %(project)s AND r.resolution = %(resolution)s AND r.bucket >= %(lo)s AND r.bucket < %(hi)s
  AND r.bucket = ANY(%(buckets)s::timestamptz[])
  -- NOT IN (every column is NOT NULL, so it means NOT EXISTS) runs as one hashed subplan; the correlated
  -- NOT EXISTS was planned as a nested loop over `fresh` per stored row, quadratic when a day is rebuilt.
  AND (r.metric, r.dims, r.bucket, r.model, r.prompt_version, r.route, r.environment) NOT IN (
      SELECT f.metric, f.dims, f.bucket, f.model, f.prompt_version, f.route, f.environment FROM fresh f)
"""

# Minutes from the raw rows. One observation per (trace, built-in metric) and per score; the sketch ordinal is
# computed per observation, then counted per ordinal and gathered into sorted arrays per slice.
MINUTES_RECOMPUTE_SQL = (
    f"""
WITH t AS (
    SELECT t.project_id, t.id, date_trunc('minute', t.started_at, 'UTC') AS bucket, t.model, t.prompt_version, t.route,
           t.environment, t.partition_at, t.span_count, t.status, t.latency_ms, t.total_tokens, t.cost
    FROM traces_trace t
    WHERE t.project_id = %(project)s AND t.started_at >= %(lo)s AND t.started_at < %(hi)s
      AND t.partition_at >= %(part_lo)s AND t.partition_at < %(part_hi)s
      AND date_trunc('minute', t.started_at, 'UTC') = ANY(%(buckets)s::timestamptz[])
), obs AS (
    SELECT m.metric, t.bucket, t.model, t.prompt_version, t.route, t.environment, m.x, NULL::boolean AS passed,
           m.sketched
    FROM t CROSS JOIN LATERAL (VALUES
        ('traces', NULL::float8, false),
        ('errors', CASE WHEN t.status = 'error' THEN 1.0::float8 ELSE 0.0::float8 END, false),
        ('latency_ms', t.latency_ms, true),
        ('tokens', t.total_tokens::float8, false),
        ('cost', t.cost, false)
    ) AS m(metric, x, sketched)
    WHERE t.span_count > 0
    UNION ALL
    SELECT s.name, t.bucket, t.model, t.prompt_version, t.route, t.environment, s.value, s.passed, true
    -- LATERAL: each trace's scores by their full key (the unique index, one partition at run time). As a plain
    -- join, a partition not yet analyzed (today's, early on) had the planner loop over all its scores per trace.
    -- The project comes from the trace row, not as a constant: with statistics taken while this project was
    -- rare in the partition, `project_id = <constant>` looked like one row and the planner read every score of
    -- the project through score_project_name_time per trace (a drain of a busy minute ran for minutes); as a
    -- run-time value it is estimated at 1/ndistinct(project_id), so the probe by (project, trace) wins.
    FROM t CROSS JOIN LATERAL (
        SELECT s.name, s.value, s.passed FROM scores_score s
        WHERE s.project_id = t.project_id AND s.trace_id = t.id AND s.partition_at = t.partition_at
          AND s.partition_at >= %(part_lo)s AND s.partition_at < %(part_hi)s
          AND s.name <> ALL(%(builtins)s::varchar[])
        OFFSET 0  -- kept a subquery: flattened, it would be planned as that plain join again
    ) AS s
), fin AS (
    SELECT metric COLLATE "C" AS metric, bucket, model COLLATE "C" AS model,
           prompt_version COLLATE "C" AS prompt_version, route COLLATE "C" AS route,
           environment COLLATE "C" AS environment, passed,
           CASE WHEN x IS NULL OR x = 'NaN'::float8 OR x IN ('Infinity'::float8, '-Infinity'::float8) THEN NULL
                ELSE x END AS x,
           sketched
    FROM obs
), l1 AS (
    SELECT metric, bucket, model, prompt_version, route, environment,
           CASE WHEN sketched AND x IS NOT NULL THEN {ordinal_sql("x")} END AS k,
           count(*) AS n, count(x) AS vn, coalesce(sum(x), 0) AS vs,
           count(*) FILTER (WHERE passed) AS p, count(*) FILTER (WHERE NOT passed) AS f
    FROM fin
    GROUP BY 1, 2, 3, 4, 5, 6, 7
), fresh AS (
    SELECT {_DEFAULT_COLLATION}, {MINUTE} AS resolution, {ALL_DIMS} AS dims, bucket, {_DEFAULT_COLLATION_DIMS},
           sum(n) AS count, sum(vn) AS value_count, sum(vs) AS value_sum, sum(p) AS passed, sum(f) AS failed,
           coalesce(array_agg(k ORDER BY k) FILTER (WHERE k IS NOT NULL), '{{}}') AS sketch_keys,
           coalesce(array_agg(n ORDER BY k) FILTER (WHERE k IS NOT NULL), '{{}}') AS sketch_counts
    FROM l1
    GROUP BY metric, bucket, model, prompt_version, route, environment
)"""
    + _UPSERT_AND_DELETE
)

# Hours from minutes and days from hours: the full-slice rows of the level below, merged (sums, and sketch
# counts per ordinal), for every subset of the dimensions at once (CUBE), the rolled-up ones stored as ''.
PARENTS_RECOMPUTE_SQL = (
    f"""
WITH src AS (
    SELECT r.metric COLLATE "C" AS metric, date_trunc(%(unit)s, r.bucket, 'UTC') AS bucket, r.model COLLATE "C" AS model,
           r.prompt_version COLLATE "C" AS prompt_version, r.route COLLATE "C" AS route,
           r.environment COLLATE "C" AS environment, x.k, x.n, x.vn, x.vs, x.p, x.f
    FROM scores_rollup r CROSS JOIN LATERAL (
        SELECT NULL::int AS k, r.count AS n, r.value_count AS vn, r.value_sum AS vs, r.passed AS p, r.failed AS f
        UNION ALL
        SELECT u.k, u.n, 0, 0, 0, 0 FROM unnest(r.sketch_keys, r.sketch_counts) AS u(k, n)
    ) AS x
    WHERE r.project_id = %(project)s AND r.resolution = %(child)s AND r.dims = {ALL_DIMS}
      AND r.bucket >= %(lo)s AND r.bucket < %(hi)s
      AND date_trunc(%(unit)s, r.bucket, 'UTC') = ANY(%(buckets)s::timestamptz[])
), merged AS (
    -- Each full slice's child rows merged into the parent bucket first: the CUBE below then reads one row per
    -- slice and ordinal instead of one per child bucket (60 minutes an hour, 24 hours a day).
    SELECT metric, bucket, model, prompt_version, route, environment, k,
           sum(n) AS n, sum(vn) AS vn, sum(vs) AS vs, sum(p) AS p, sum(f) AS f
    FROM src
    GROUP BY metric, bucket, model, prompt_version, route, environment, k
), l1 AS (
    SELECT metric, bucket, {ALL_DIMS} - GROUPING(model, prompt_version, route, environment) AS dims,
           coalesce(model, '') AS model, coalesce(prompt_version, '') AS prompt_version,
           coalesce(route, '') AS route, coalesce(environment, '') AS environment, k,
           sum(n) AS n, sum(vn) AS vn, sum(vs) AS vs, sum(p) AS p, sum(f) AS f
    FROM merged
    GROUP BY metric, bucket, k, CUBE (model, prompt_version, route, environment)
), fresh AS (
    SELECT {_DEFAULT_COLLATION}, %(resolution)s AS resolution, dims, bucket, {_DEFAULT_COLLATION_DIMS},
           sum(n) FILTER (WHERE k IS NULL) AS count, sum(vn) FILTER (WHERE k IS NULL) AS value_count,
           sum(vs) FILTER (WHERE k IS NULL) AS value_sum, sum(p) FILTER (WHERE k IS NULL) AS passed,
           sum(f) FILTER (WHERE k IS NULL) AS failed,
           coalesce(array_agg(k ORDER BY k) FILTER (WHERE k IS NOT NULL), '{{}}') AS sketch_keys,
           coalesce(array_agg(n ORDER BY k) FILTER (WHERE k IS NOT NULL), '{{}}') AS sketch_counts
    FROM l1
    GROUP BY metric, dims, bucket, model, prompt_version, route, environment
)"""
    + _UPSERT_AND_DELETE
)

# One probe per trace by its row id (trace_id_lookup), the project checked on the row found. With
# `t.project_id = <constant> AND t.id = ANY(…)` the planner, on a partition without statistics or analyzed while
# this project was rare in it, took the project as a few rows and read all of its rows through a project index,
# filtering on id: the cost of a mark grew with the day (at 2,000 traces/s, 60 % of the writers' CPU by 150 s).
DIRTY_MARK_SQL = """
INSERT INTO scores_rollupdirty (project_id, minute)
SELECT DISTINCT t.project_id, t.minute
FROM unnest(%(ids)s::bigint[]) AS k(id) CROSS JOIN LATERAL (
    SELECT t.project_id, date_trunc('minute', t.started_at, 'UTC') AS minute FROM traces_trace t WHERE t.id = k.id
    OFFSET 0  -- a fence: the project test below stays outside, off the index choice
) AS t
WHERE t.project_id = %(project)s
"""

# Up to `limit` distinct (project, minute) keys, every row of each: writers mark the same minute many times
# (each ingest batch and each scores_upsert), and taking rows by count would leave duplicates of a minute behind
# for a second recompute in the next transaction. Drains run one at a time (the rollup lock), so no SKIP LOCKED.
DIRTY_TAKE_SQL = """
WITH keys AS (
    SELECT project_id, minute FROM scores_rollupdirty GROUP BY project_id, minute
    ORDER BY min(id) LIMIT %(limit)s
)
DELETE FROM scores_rollupdirty d USING keys k
WHERE d.project_id = k.project_id AND d.minute = k.minute
RETURNING d.project_id, d.minute
"""


def floor_time(t: datetime, seconds: int) -> datetime:
    """Return the start of the `seconds`-wide UTC bucket holding t (buckets aligned on the epoch)."""
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def rollups_dirty_mark(*, project_id: int, trace_pks: Sequence[int]) -> int:
    """Mark the minutes of these traces dirty (their rows or their scores changed); return keys written.

    An INGEST_BATCH_CONSUMERS entry (called with project_id=, trace_pks=), and called by scores_upsert.
    """
    if not trace_pks:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(DIRTY_MARK_SQL, {"ids": list(trace_pks), "project": project_id})
        return cursor.rowcount


def rollups_minutes_mark(*, project_id: int, minutes: Iterable[datetime]) -> int:
    """Mark these minutes of the project dirty (tools and tests)."""
    rows = [(project_id, floor_time(m, MINUTE)) for m in minutes]
    with connection.cursor() as cursor:
        cursor.executemany("INSERT INTO scores_rollupdirty (project_id, minute) VALUES (%s, %s)", rows)
    return len(rows)


def _clusters(buckets: Iterable[datetime], step: int) -> list[list[datetime]]:
    """Split sorted buckets into runs whose neighbours are at most CLUSTER_GAP steps apart."""
    runs: list[list[datetime]] = []
    for b in sorted(set(buckets)):
        if runs and (b - runs[-1][-1]).total_seconds() <= CLUSTER_GAP * step:
            runs[-1].append(b)
        else:
            runs.append([b])
    return runs


def _recompute(sql: str, *, project_id: int, buckets: Iterable[datetime], step: int, **params: object) -> None:
    with connection.cursor() as cursor:
        for run in _clusters(buckets, step):
            lo, hi = run[0], run[-1] + timedelta(seconds=step)
            cursor.execute(
                sql,
                {
                    "project": project_id,
                    "buckets": run,
                    "lo": lo,
                    "hi": hi,
                    # A trace's partition_at is within TRACE_PARTITION_WINDOW of its start: constant bounds on
                    # the partition key let PostgreSQL prune traces and scores to the days around the range.
                    "part_lo": lo - TRACE_PARTITION_WINDOW,
                    "part_hi": hi + TRACE_PARTITION_WINDOW,
                    "builtins": list(BUILTIN_METRICS),
                    **params,
                },
            )


def _recompute_settings() -> None:
    """Planner settings of the recompute, for the current transaction only.

    JIT off: its compile time (~0.1-1 s per statement for these wide aggregates) is paid on every drain and
    outweighs what it saves on a few minutes' rows; work_mem 64MB keeps the hash aggregates of a day's
    rebuild (minute slices × sketch ordinals, then the CUBE) in memory instead of spilling to disk.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")


def rollups_recompute(*, project_id: int, minutes: Iterable[datetime]) -> None:
    """Recompute these minutes of a project from their rows, then the hours and days that hold them.

    Call it inside a transaction holding the rollup lock (`rollups_lock`), as the drain and rebuild do.
    """
    minutes = {floor_time(m, MINUTE) for m in minutes}
    if not minutes:
        return
    _recompute_settings()
    with connection.cursor() as cursor:
        # The raw rows' aggregation by slice and ordinal hashes instead of sorting: the planner, which cannot see
        # how many rows the CTEs yield (it guesses hundreds, a busy minute has 60,000 traces), otherwise sorts
        # ~8 observations a trace, 2-3x the whole statement's time. The parent levels keep their sorted CUBE.
        cursor.execute("SET LOCAL enable_sort = off")
        _recompute(MINUTES_RECOMPUTE_SQL, project_id=project_id, buckets=minutes, step=MINUTE, resolution=MINUTE)
        cursor.execute("SET LOCAL enable_sort = on")
    hours = {floor_time(m, HOUR) for m in minutes}
    _recompute(
        PARENTS_RECOMPUTE_SQL, project_id=project_id, buckets=hours, step=HOUR, resolution=HOUR, child=MINUTE,
        unit="hour",
    )  # fmt: skip
    days = {floor_time(m, DAY) for m in minutes}
    _recompute(
        PARENTS_RECOMPUTE_SQL, project_id=project_id, buckets=days, step=DAY, resolution=DAY, child=HOUR, unit="day"
    )


def rollups_lock(*, wait: bool) -> bool:
    """Take the transaction-scoped rollup lock (wait for it, or try once); return whether it is held."""
    return advisory_xact_lock(ROLLUP_LOCK_KEY, wait=wait)


def rollups_drain(*, limit: int | None = None, budget_seconds: float | None = None) -> int:
    """Recompute the dirty minutes (at most `limit` keys per transaction) until none are left or the budget is
    spent; return how many (project, minute) buckets were recomputed. Another drain running: returns 0."""
    limit = limit or settings.ROLLUP_DRAIN_BATCH
    deadline = time.monotonic() + (budget_seconds if budget_seconds is not None else settings.ROLLUP_DRAIN_BUDGET)
    done = 0
    while True:
        with transaction.atomic():
            if not rollups_lock(wait=False):
                return done
            with connection.cursor() as cursor:
                cursor.execute(DIRTY_TAKE_SQL, {"limit": limit})
                taken = cursor.fetchall()
            by_project: dict[int, set[datetime]] = defaultdict(set)
            for project_id, minute in taken:
                by_project[project_id].add(minute)
            for project_id in sorted(by_project):
                rollups_recompute(project_id=project_id, minutes=by_project[project_id])
        keys = sum(len(m) for m in by_project.values())
        done += keys
        if keys < limit or time.monotonic() >= deadline:
            return done


def rollups_rebuild(*, project_id: int, since: datetime, until: datetime | None = None) -> int:
    """Recompute every minute of the project from `since` (one day per transaction); return minutes rebuilt.

    Minutes older than the project's oldest trace are left alone: their raw rows were pruned, and their rollups
    are all that remains of them.
    """
    until = until or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(started_at) FROM traces_trace WHERE project_id = %s", [project_id])
        oldest = cursor.fetchone()[0]
    if oldest is None:
        return 0
    start = floor_time(max(since, oldest), MINUTE)
    end = floor_time(until, MINUTE) + timedelta(minutes=1)
    rebuilt = 0
    day_start = start
    while day_start < end:
        day_end = min(floor_time(day_start, DAY) + timedelta(days=1), end)
        minutes = [day_start + timedelta(minutes=i) for i in range(int((day_end - day_start).total_seconds()) // 60)]
        with transaction.atomic():
            rollups_lock(wait=True)
            rollups_recompute(project_id=project_id, minutes=minutes)
        rebuilt += len(minutes)
        day_start = day_end
    return rebuilt


def rollups_prune(*, now: datetime | None = None, budget_seconds: float = 60.0) -> int:
    """Delete rollups older than ROLLUP_RETENTION_DAYS, in bounded batches; return rows deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ROLLUP_RETENTION_DAYS)
    deleted = 0
    for resolution in (MINUTE, HOUR, DAY):
        # A day is kept until it has ended before the cutoff (its hours and minutes are pruned by their own start).
        rows = Rollup.objects.filter(resolution=resolution, bucket__lt=cutoff - timedelta(seconds=resolution))
        deleted += rows_delete_in_batches(rows, budget_seconds=budget_seconds)
    return deleted
