"""metric_totals (SLI windows): whole hours from hour rows, ragged ends from minutes, equal to the minutes alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from apps.scores.rollups import rollups_drain
from apps.scores.selectors import metric_totals
from apps.scores.services import ScoreInput, scores_upsert
from apps.scores.sketch import sketch_quantiles
from tests.scores.rollup_traffic import batches_run
from tests.traces.factories import simple_trace

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 29, 21, 40, tzinfo=UTC)


def from_minutes(project, metric, start, end, group_by):
    """The same totals computed from the minute rows only."""
    cols = "".join(f"{d}, " for d in group_by)
    where = "WHERE project_id = %s AND metric = %s AND resolution = 60 AND dims = 15 AND bucket >= %s AND bucket < %s"
    group = f"GROUP BY {', '.join(group_by)}" if group_by else ""
    params = [project.pk, metric, start, end]
    g = len(group_by)
    sketches: dict[tuple, dict[int, int]] = {}
    out = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {cols}u.k, sum(u.n) FROM scores_rollup, unnest(sketch_keys, sketch_counts) AS u(k, n) "
            f"{where} GROUP BY {cols}u.k",
            params,
        )
        for *key, k, n in cursor.fetchall():
            sketches.setdefault(tuple(key), {})[k] = int(n)
        cursor.execute(
            f"SELECT {cols}sum(count), sum(passed), sum(passed + failed), sum(value_sum) FROM scores_rollup "
            f"{where} {group}",
            params,
        )
        for row in cursor.fetchall():
            if row[g] is None:
                continue
            merged = sketches.get(tuple(row[:g]), {})
            ks = sorted(merged)
            quantiles = sketch_quantiles(ks, [merged[k] for k in ks])
            out[tuple(row[:g])] = (int(row[g]), int(row[g + 1]), int(row[g + 2]), float(row[g + 3]), quantiles)
    return out


def test_totals_over_hours_equal_the_minutes(project):
    for i in range(54):  # 3.6 hours of traffic, one trace every 4 minutes, two routes, two versions
        at = T0 + timedelta(minutes=4 * i, seconds=5)
        trace = simple_trace(
            project, at=at, route=f"/r{i % 2}", prompt_version=f"v{i % 3 // 2}", duration_ms=100 + 37 * i
        )
        scores_upsert(
            project=project,
            items=[ScoreInput(trace_pk=trace.pk, name="check", source="external", passed=i % 4 != 0, value=float(i))],
        )
    batches_run()
    rollups_drain()
    ranges = [
        (T0, T0 + timedelta(hours=4)),
        (T0 + timedelta(minutes=21), T0 + timedelta(hours=2, minutes=59)),
        (T0 + timedelta(minutes=20), T0 + timedelta(minutes=50)),  # inside one hour: minutes only
        (T0 + timedelta(minutes=20), T0 + timedelta(hours=1, minutes=20)),  # two ragged ends, no whole hour
    ]
    for start, end in ranges:
        for metric, quantiles in (("check", True), ("latency_ms", True), ("traces", False)):
            for group_by in ([], ["route"], ["prompt_version", "route"]):
                totals = metric_totals(
                    project=project, metric=metric, start=start, end=end, group_by=group_by, quantiles=quantiles
                )
                expected = from_minutes(project, metric, start, end, group_by)
                got = {
                    tuple(group.values()): (
                        p.count,
                        p.passed,
                        p.judged,
                        p.value_sum,
                        [p.p50, p.p95, p.p99] if quantiles else expected.get(tuple(group.values()), (0,) * 5)[4],
                    )
                    for group, p in totals
                }
                assert got.keys() == expected.keys(), (start, end, metric, group_by)
                for key, value in expected.items():
                    assert got[key][:3] == value[:3]
                    assert got[key][3] == pytest.approx(value[3])
                    if quantiles:
                        assert got[key][4] == value[4]
    filtered = metric_totals(
        project=project, metric="traces", start=T0, end=T0 + timedelta(hours=4), filters={"route": "/r1"}
    )
    assert [p.count for _, p in filtered] == [27]
