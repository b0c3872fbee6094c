"""Metric selectors: declarations read once per metric, and slices with their change, worst first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.evaluators.models import Evaluator
from apps.scores.metrics import Direction, MetricKind
from apps.scores.rollups import rollups_drain
from apps.scores.selectors import metric_series, metric_slices, metric_spec_get, metric_spec_list
from apps.scores.services import ScoreInput, scores_upsert
from tests.scores.rollup_traffic import T0, batches_run
from tests.traces.factories import simple_trace

pytestmark = pytest.mark.django_db


def score(project, trace, name, **fields):
    scores_upsert(project=project, items=[ScoreInput(trace_pk=trace.pk, name=name, source="external", **fields)])


def test_each_metric_is_declared_once_by_its_source(project):
    trace = simple_trace(project, at=T0)
    score(project, trace, "helpfulness", value=4.0)
    score(project, trace, "resolved", passed=True)
    rollups_drain()
    assert metric_spec_get(project=project, name="latency_ms").direction == Direction.LOWER_IS_BETTER
    assert metric_spec_get(project=project, name="errors").unit == "%"
    thumbs = metric_spec_get(project=project, name="thumbs_down")  # feedback: declared before any data
    assert (thumbs.kind, thumbs.direction, thumbs.source) == (MetricKind.RATE, Direction.LOWER_IS_BETTER, "feedback")
    refusal = metric_spec_get(project=project, name="refusal")  # a default evaluator declares its pass rate
    assert Evaluator.objects.filter(project=project, name="refusal").exists()
    assert (refusal.kind, refusal.direction, refusal.source) == (
        MetricKind.BINARY,
        Direction.HIGHER_IS_BETTER,
        "evaluator",
    )
    assert metric_spec_get(project=project, name="helpfulness").kind == MetricKind.CONTINUOUS  # inferred
    assert metric_spec_get(project=project, name="resolved").kind == MetricKind.BINARY
    assert metric_spec_get(project=project, name="never_seen") is None
    names = [s.name for s in metric_spec_list(project=project)]
    assert names[:5] == ["traces", "errors", "latency_ms", "tokens", "cost"]
    assert {"helpfulness", "resolved", "refusal"} <= set(names)


def test_slices_compare_with_the_previous_period_worst_first(project):
    day = T0.replace(hour=0, minute=0)
    before, now = day - timedelta(days=1), day
    # v1 passes in both periods; v2 passed before and fails now: it got worse and comes first.
    for at, v2_passed in ((before, True), (now, False)):
        for version, passed in (("v1", True), ("v2", v2_passed)):
            for i in range(2):
                trace = simple_trace(project, at=at + timedelta(hours=3, seconds=i), prompt_version=version)
                score(project, trace, "resolved", passed=passed)
    batches_run()
    rollups_drain()
    slices = metric_slices(
        project=project, metric="resolved", start=now, end=now + timedelta(days=1), group_by=["prompt_version"]
    )
    assert [(s.group, s.count, s.value, s.previous_value, s.change) for s in slices] == [
        ({"prompt_version": "v2"}, 2, 0.0, 1.0, -1.0),
        ({"prompt_version": "v1"}, 2, 1.0, 1.0, 0.0),
    ]
    assert slices[0].worse_by == 1.0
    # The same figures from minute rows (unaligned bounds) as from day rows.
    unaligned = metric_slices(
        project=project, metric="resolved", start=now + timedelta(minutes=1), end=now + timedelta(hours=5),
        group_by=["prompt_version"],
    )  # fmt: skip
    # (Its previous period holds no data: no change, so the order falls back to count, then the group.)
    assert [(s.group, s.count, s.value, s.change) for s in unaligned] == [
        ({"prompt_version": "v1"}, 2, 1.0, None),
        ({"prompt_version": "v2"}, 2, 0.0, None),
    ]
    latency = metric_slices(project=project, metric="latency_ms", start=now, end=now + timedelta(days=1), group_by=[])
    assert latency[0].count == 4 and latency[0].value == pytest.approx(120)


def test_series_reads_the_right_level_for_each_interval(project, django_assert_max_num_queries):
    for i in range(3):
        simple_trace(project, at=T0 + timedelta(minutes=i), route="/a", duration_ms=100)
    batches_run()
    rollups_drain()
    spec = metric_spec_get(project=project, name="latency_ms")
    counts = {}
    for interval in ("1m", "5m", "1h", "1d"):
        with django_assert_max_num_queries(2):
            series = metric_series(
                project=project, metric="latency_ms", start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1),
                interval=interval, group_by=["route"], spec=spec,
            )  # fmt: skip
        counts[interval] = [p.count for p in series[0].points]
    assert counts == {"1m": [1, 1, 1], "5m": [3], "1h": [3], "1d": [3]}


def test_failed_scores_come_newest_first_from_the_hours_that_hold_them(project):
    from apps.scores.selectors import route_failure_list, score_failed_list

    day = T0.replace(hour=0, minute=0)
    failing = [simple_trace(project, at=day + timedelta(hours=2, minutes=i), route="/a") for i in range(3)]
    passing = [simple_trace(project, at=day + timedelta(hours=5, minutes=i), route="/b") for i in range(3)]
    for trace in failing:
        score(project, trace, "resolved", passed=False, explanation="wrong")
    for trace in passing:
        score(project, trace, "resolved", passed=True)
    batches_run()
    rollups_drain()
    window = {"start": day, "end": day + timedelta(days=1)}
    found = score_failed_list(project=project, names=["resolved", "never_seen"], limit=2, **window)
    assert [s.trace.trace_id for s in found] == [failing[2].trace_id, failing[1].trace_id]
    assert score_failed_list(project=project, names=["resolved"], filters={"route": "/b"}, **window) == []
    routes = route_failure_list(project=project, names=["resolved"], **window)
    assert [(r.route, r.traces, r.failed, r.judged) for r in routes] == [("/a", 3, 3, 3)]
