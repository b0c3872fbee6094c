"""Rollups equal a direct computation over the raw rows, whatever the traffic: late and duplicate arrivals,
scores before their traces, start times that move across minutes, hours and days, drains at any point."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings

from apps.projects.services import project_create
from apps.scores.models import Rollup, RollupDirty
from apps.scores.rollups import DAY, HOUR, MINUTE, rollups_drain, rollups_prune, rollups_rebuild
from apps.scores.services import ScoreInput, scores_upsert
from apps.scores.sketch import QUANTILES, RELATIVE_ACCURACY, sketch_quantiles
from apps.traces.models import Trace
from tests.scores.rollup_traffic import (
    T0,
    TrafficState,
    batches_run,
    exact_quantile,
    reference_rows,
    sums_close,
    traffic,
    traffic_apply,
)
from tests.traces.factories import simple_trace

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def stored_rows(project, step: int) -> dict[tuple, Rollup]:
    rows = Rollup.objects.filter(project=project, resolution=step)
    return {(r.metric, r.bucket, r.dims, r.model, r.prompt_version, r.route, r.environment): r for r in rows}


def assert_rollups_match(project) -> None:
    """Every level's rows equal the reference: same buckets and slices, same sums, quantiles within 1 %."""
    for step in (MINUTE, HOUR, DAY):
        expected = reference_rows(project, step)
        if step == MINUTE:  # minutes keep every slice only
            expected = {k: v for k, v in expected.items() if k[2] == 15}
        stored = stored_rows(project, step)
        assert set(stored) == set(expected), f"{step}s buckets differ"
        for key, (count, value_count, value_sum, passed, failed, values, magnitude) in expected.items():
            row = stored[key]
            assert (row.count, row.value_count, row.passed, row.failed) == (count, value_count, passed, failed), key
            assert sums_close(row.value_sum, value_sum, magnitude), key
            assert sum(row.sketch_counts) == len(values), key
            assert row.sketch_keys == sorted(row.sketch_keys), key
            for estimate, q in zip(sketch_quantiles(row.sketch_keys, row.sketch_counts), QUANTILES, strict=True):
                if values:
                    exact = exact_quantile(values, q)
                    assert abs(estimate - exact) <= RELATIVE_ACCURACY * abs(exact) + 1e-300, (key, q)
                else:
                    assert estimate is None


@FUZZ
@given(ops=traffic)
def test_rollups_equal_a_direct_computation_over_random_traffic(ops):
    state = TrafficState(project=project_create(name="Fuzzed rollups"))
    traffic_apply(state, ops)
    assert not RollupDirty.objects.exists()
    assert_rollups_match(state.project)


@FUZZ
@given(ops=traffic)
def test_a_rebuild_gives_the_same_rollups_as_the_drain(ops):
    state = TrafficState(project=project_create(name="Fuzzed rebuild"))
    traffic_apply(state, ops)
    before = {
        k: (r.count, r.value_sum, r.sketch_keys, r.sketch_counts) for k, r in stored_rows(state.project, HOUR).items()
    }
    Rollup.objects.filter(project=state.project).update(count=999)  # corrupt, then rebuild
    rollups_rebuild(project_id=state.project.id, since=T0 - timedelta(days=1), until=T0 + timedelta(minutes=10))
    after = {
        k: (r.count, r.value_sum, r.sketch_keys, r.sketch_counts) for k, r in stored_rows(state.project, HOUR).items()
    }
    assert after == before
    assert_rollups_match(state.project)


def test_a_trace_moved_to_an_earlier_minute_leaves_its_old_minute(project):
    trace = simple_trace(project, at=T0 + timedelta(minutes=3), route="/a")
    batches_run()
    rollups_drain()
    assert Rollup.objects.filter(project=project, metric="traces", resolution=MINUTE).get().bucket == T0 + timedelta(
        minutes=3
    )
    Trace.objects.filter(id=trace.id).update(started_at=T0)  # the trigger marks both minutes
    rollups_drain()
    assert list(
        Rollup.objects.filter(project=project, metric="traces", resolution=MINUTE).values_list("bucket", flat=True)
    ) == [T0]


def test_a_redelivered_score_write_counts_once(project):
    trace = simple_trace(project, at=T0)
    batches_run()
    item = ScoreInput(trace_pk=trace.pk, name="quality", source="external", value=0.25, passed=False)
    for _ in range(3):
        scores_upsert(project=project, items=[item])
        rollups_drain()
    row = Rollup.objects.get(project=project, metric="quality", resolution=DAY, dims=0)
    assert (row.count, row.value_sum, row.failed) == (1, 0.25, 1)


def test_a_second_drain_while_one_runs_does_nothing(project, django_db_blocker):
    simple_trace(project, at=T0)
    batches_run()
    from apps.scores.rollups import rollups_lock

    rollups_lock(wait=True)  # held by this test's transaction, as a running drain would hold it…
    # …but a drain in the same session re-enters the lock: check the other-session case with a raw connection.
    from django.db import connections

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [0x5CA1AB1E])
            assert cursor.fetchone()[0] is False
    finally:
        other.close()


def test_rollups_rebuild_command_recomputes_a_project(project):
    simple_trace(project, at=T0)
    batches_run()
    assert not Rollup.objects.filter(project=project, metric="traces").exists()  # nothing drained yet
    call_command("rollups_rebuild", "--project", project.slug, "--since", "2026-11-27T00:00:00")
    assert Rollup.objects.get(project=project, metric="traces", resolution=DAY, dims=0).count == 1
    call_command("rollups_rebuild", "--project", str(project.id), "--since", "2026-11-27")
    assert Rollup.objects.get(project=project, metric="traces", resolution=DAY, dims=0).count == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nope", "--since", "2026-01-01"], "--project"),
        (["--project", "{slug}", "--since", "yesterday"], "--since"),
    ],
)
def test_rollups_rebuild_command_names_a_bad_argument(project, args, message):
    from django.core.management.base import CommandError

    args = [a.format(slug=project.slug) for a in args]
    with pytest.raises(CommandError, match=message):
        call_command("rollups_rebuild", *args)


def test_rollups_prune_deletes_only_rows_past_the_retention(project, settings):
    settings.ROLLUP_RETENTION_DAYS = 30
    now = datetime(2027, 1, 1, tzinfo=UTC)
    simple_trace(project, at=now - timedelta(days=40))
    simple_trace(project, at=now - timedelta(days=10))
    batches_run()
    rollups_drain()
    deleted = rollups_prune(now=now)
    assert deleted > 0
    buckets = set(Rollup.objects.filter(project=project).values_list("bucket", flat=True))
    assert buckets and min(buckets) >= now - timedelta(days=31)
