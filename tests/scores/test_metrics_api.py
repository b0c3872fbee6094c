"""GET /api/v1/metrics: the series equals a direct computation over the raw rows; every parameter, bad ones 400."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import timedelta

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from apps.projects.services import api_key_create, project_create
from apps.scores.metrics import BUILTIN_METRICS
from apps.scores.rollups import floor_time
from apps.scores.selectors import INTERVALS, metric_spec_get
from apps.scores.services import ScoreInput, scores_upsert
from apps.scores.sketch import RELATIVE_ACCURACY
from tests.scores.rollup_traffic import (
    ENVIRONMENTS,
    MODELS,
    PROMPT_VERSIONS,
    ROUTES,
    T0,
    TrafficState,
    batches_run,
    exact_quantile,
    traffic,
    traffic_apply,
)
from tests.traces.factories import simple_trace

pytestmark = pytest.mark.django_db
DIMS = ("model", "prompt_version", "route", "environment")
CORRECTED = ("corrected_pass_rate", "ci_low", "ci_high", "n_labeled")  # with corrected=true
DIM_VALUES = {"model": MODELS, "prompt_version": PROMPT_VERSIONS, "route": ROUTES, "environment": ENVIRONMENTS}

OBSERVATIONS_SQL = """
SELECT m.metric, t.started_at, t.model, t.prompt_version, t.route, t.environment, m.x, NULL::boolean
FROM traces_trace t CROSS JOIN LATERAL (VALUES
    ('traces', NULL::float8), ('errors', CASE WHEN t.status = 'error' THEN 1.0::float8 ELSE 0.0::float8 END),
    ('latency_ms', t.latency_ms), ('tokens', t.total_tokens::float8), ('cost', t.cost)) AS m(metric, x)
WHERE t.project_id = %(project)s AND t.span_count > 0
UNION ALL
SELECT s.name, t.started_at, t.model, t.prompt_version, t.route, t.environment, s.value, s.passed
FROM scores_score s JOIN traces_trace t ON t.id = s.trace_id
WHERE t.project_id = %(project)s AND NOT (s.name = ANY(%(builtins)s))
"""


def client_for(project, scope: str = "read") -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(project=project, name=scope, scope=scope).plaintext}"
    )
    return client


def direct_series(project, metric, start, end, interval, group_by, filters, has_quantiles):
    """The answer computed from the raw traces and scores, without the rollups."""
    step = INTERVALS[interval]
    first = floor_time(start, step)
    if end <= start:  # an empty range overlaps no bucket
        return []
    with connection.cursor() as cursor:
        cursor.execute(OBSERVATIONS_SQL, {"project": project.pk, "builtins": list(BUILTIN_METRICS)})
        rows = cursor.fetchall()
    buckets: dict[tuple, dict[str, list]] = defaultdict(lambda: {"n": [], "x": [], "verdicts": []})
    for name, ts, *dims, x, passed in rows:
        values = dict(zip(DIMS, dims, strict=True))
        if name != metric or any(values[k] != v for k, v in filters.items()):
            continue
        t = floor_time(ts, step)
        if not first <= t < end:
            continue
        b = buckets[(tuple(values[g] for g in group_by), t)]
        b["n"].append(1)
        if x is not None and math.isfinite(x):
            b["x"].append(x)
        if passed is not None:
            b["verdicts"].append(passed)
    series: dict[tuple, list[dict]] = defaultdict(list)
    for (group, t), b in sorted(buckets.items()):
        xs = sorted(b["x"])
        qs = [exact_quantile(xs, q) if has_quantiles and xs else None for q in (0.5, 0.95, 0.99)]
        series[group].append(
            {
                "t": t.isoformat().replace("+00:00", "Z"),
                "count": len(b["n"]),
                "value": sum(xs) / len(xs) if xs else None,
                "pass_rate": sum(b["verdicts"]) / len(b["verdicts"]) if b["verdicts"] else None,
                "p50": qs[0],
                "p95": qs[1],
                "p99": qs[2],
            }
        )
    return [{"group": dict(zip(group_by, g, strict=True)), "points": series[g]} for g in sorted(series)]


def assert_same_series(answer: list[dict], expected: list[dict]) -> None:
    assert [s["group"] for s in answer] == [s["group"] for s in expected]
    for got, want in zip(answer, expected, strict=True):
        assert [p["t"] for p in got["points"]] == [p["t"] for p in want["points"]], got["group"]
        for p, q in zip(got["points"], want["points"], strict=True):
            assert p["count"] == q["count"]
            assert (
                p["pass_rate"] == pytest.approx(q["pass_rate"])
                if q["pass_rate"] is not None
                else p["pass_rate"] is None
            )
            if q["value"] is None:
                assert p["value"] is None
            else:
                assert p["value"] == pytest.approx(q["value"], rel=1e-9, abs=1e-6)
            for k in ("p50", "p95", "p99"):
                if q[k] is None:
                    assert p[k] is None, k
                else:
                    assert abs(p[k] - q[k]) <= RELATIVE_ACCURACY * abs(q[k]) + 1e-300, (k, p[k], q[k])


query = st.fixed_dictionaries(
    {
        "metric": st.sampled_from([*BUILTIN_METRICS, "quality", "grounding", "thumbs_down", "refusal"]),
        "interval": st.sampled_from(list(INTERVALS)),
        "from": st.integers(-70, 4),  # minutes from T0 (the traffic is in T0 … T0 + 6 min)
        "span": st.integers(0, 180),  # minutes
        "group_by": st.lists(st.sampled_from(DIMS), unique=True, max_size=4),
        "filters": st.dictionaries(st.sampled_from(DIMS), st.integers(0, 2), max_size=1),
    }
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ops=traffic, queries=st.lists(query, min_size=1, max_size=4))
def test_the_series_equals_a_direct_computation_over_the_raw_rows(ops, queries):
    state = TrafficState(project=project_create(name="Fuzzed metrics"))
    traffic_apply(state, ops)
    client = client_for(state.project)
    # Besides the drawn queries, two that always see the whole traffic: a merged (5m) and a stored (1h) level.
    everything = {"from": -7, "span": 30, "filters": {}}
    fixed = [
        {**everything, "metric": "latency_ms", "interval": "5m", "group_by": ["route"]},
        {**everything, "metric": "latency_ms", "interval": "1h", "group_by": []},
        {**everything, "metric": "errors", "interval": "1m", "group_by": ["model", "environment"]},
    ]
    for q in [*fixed, *queries]:
        start = T0 + timedelta(minutes=q["from"])
        end = start + timedelta(minutes=q["span"])
        filters = {d: DIM_VALUES[d][i % len(DIM_VALUES[d])] for d, i in q["filters"].items()}
        params = {
            "metric": q["metric"],
            "interval": q["interval"],
            "from": start.isoformat(),
            "to": end.isoformat(),
            "group_by": ",".join(q["group_by"]),
            **filters,
        }
        response = client.get("/api/v1/metrics", params)
        spec = metric_spec_get(project=state.project, name=q["metric"])
        if spec is None:  # a score name this traffic never wrote
            assert response.status_code == 400 and response.json()["field"] == "metric"
            continue
        assert response.status_code == 200, response.json()
        body = response.json()
        assert (body["metric"], body["interval"]) == (q["metric"], q["interval"])
        expected = direct_series(
            state.project, q["metric"], start, end, q["interval"], q["group_by"], filters, spec.has_quantiles
        )
        assert_same_series(body["series"], expected)


def test_a_latency_series_by_prompt_version(project):
    for i in range(10):
        simple_trace(project, at=T0 + timedelta(seconds=i), prompt_version="v1", duration_ms=100 + i)
    simple_trace(project, at=T0 + timedelta(hours=2), prompt_version="v2", duration_ms=1000)
    batches_run()
    from apps.scores.rollups import rollups_drain

    rollups_drain()
    body = (
        client_for(project)
        .get(
            "/api/v1/metrics",
            {
                "metric": "latency_ms",
                "from": "2026-11-27T23:00:00Z",
                "to": "2026-11-28T03:00:00Z",
                "group_by": "prompt_version",
            },
        )
        .json()
    )
    assert body["interval"] == "1h"  # the default
    assert [s["group"] for s in body["series"]] == [{"prompt_version": "v1"}, {"prompt_version": "v2"}]
    [point] = body["series"][0]["points"]  # the empty hours are left out
    assert point["t"] == "2026-11-27T23:00:00Z" and point["count"] == 10 and point["pass_rate"] is None
    assert point["value"] == pytest.approx(104.5)
    assert point["p50"] == pytest.approx(104, rel=RELATIVE_ACCURACY)
    assert body["series"][1]["points"][0]["t"] == "2026-11-28T01:00:00Z"
    traffic = (
        client_for(project)
        .get("/api/v1/metrics", {"metric": "traces", "from": "2026-11-27T23:00:00Z", "to": "2026-11-28T03:00:00Z"})
        .json()
    )
    assert traffic["series"] == [
        {"group": {}, "points": [
            {"t": "2026-11-27T23:00:00Z", "count": 10, "value": None, "pass_rate": None, "p50": None, "p95": None, "p99": None},
            {"t": "2026-11-28T01:00:00Z", "count": 1, "value": None, "pass_rate": None, "p50": None, "p95": None, "p99": None},
        ]}
    ]  # fmt: skip


def test_groups_keep_the_order_of_group_by(project):
    simple_trace(project, at=T0, model="m-1", route="/b")
    simple_trace(project, at=T0, model="m-2", route="/a")
    batches_run()
    from apps.scores.rollups import rollups_drain

    rollups_drain()
    window = {"metric": "traces", "from": "2026-11-27T23:00:00Z", "to": "2026-11-28T03:00:00Z"}
    by_route = client_for(project).get("/api/v1/metrics", {**window, "group_by": "route,model"}).json()
    assert [list(s["group"].items()) for s in by_route["series"]] == [
        [("route", "/a"), ("model", "m-2")],
        [("route", "/b"), ("model", "m-1")],
    ]
    by_model = client_for(project).get("/api/v1/metrics", {**window, "group_by": "model,route"}).json()
    assert [list(s["group"].items()) for s in by_model["series"]] == [
        [("model", "m-1"), ("route", "/b")],
        [("model", "m-2"), ("route", "/a")],
    ]


def test_a_pass_rate_is_passed_over_judged(project):
    traces = [simple_trace(project, at=T0) for _ in range(4)]
    verdicts = [True, True, False, None]
    scores_upsert(
        project=project,
        items=[
            ScoreInput(trace_pk=t.pk, name="resolved", source="external", passed=v)
            for t, v in zip(traces, verdicts, strict=True)
        ],
    )
    from apps.scores.rollups import rollups_drain

    rollups_drain()
    body = (
        client_for(project)
        .get(
            "/api/v1/metrics",
            {"metric": "resolved", "from": "2026-11-27T00:00:00Z", "to": "2026-11-28T00:00:00Z", "interval": "1d"},
        )
        .json()
    )
    [point] = body["series"][0]["points"]
    assert (point["count"], point["pass_rate"], point["value"], point["p50"]) == (4, 2 / 3, None, None)


OK = {"metric": "traces", "from": "2026-11-27T00:00:00Z", "to": "2026-11-28T00:00:00Z", "interval": "1h"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"metric": None}, "metric"),
        ({"metric": ""}, "metric"),
        ({"metric": "no such metric"}, "metric"),
        ({"metric": "never_written"}, "metric"),
        ({"metric": "a\x00b"}, "metric"),
        ({"metric": "x" * 101}, "metric"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-13-01T00:00:00Z"}, "from"),
        ({"from": "0001-01-01T00:00:00+14:00"}, "from"),
        ({"to": "not a time"}, "to"),
        ({"to": "99999-01-01"}, "to"),
        ({"from": "2026-11-28T00:00:00Z", "to": "2026-11-27T00:00:00Z"}, "from"),
        ({"interval": "2h"}, "interval"),
        ({"interval": "1H"}, "interval"),
        ({"interval": "1m", "from": "2026-11-01T00:00:00Z"}, "interval"),  # 38,880 points
        ({"interval": "1d", "from": "1970-01-01T00:00:00Z"}, "interval"),
        ({"group_by": "model,colour"}, "group_by"),
        ({"group_by": "model,model"}, "group_by"),
        ({"group_by": "user_id"}, "group_by"),
        ({"route": "a\x00"}, "route"),
        ({"model": "m" * 201}, "model"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(project, params, field):
    query = {**OK, **params}
    query = {k: v for k, v in query.items() if v is not None}
    response = client_for(project).get("/api/v1/metrics", query)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["field"] == field and body["error"].startswith(field), body


@pytest.mark.parametrize("interval", list(INTERVALS))
def test_every_interval_and_filter_is_accepted(project, interval):
    query = {**OK, "interval": interval, "from": "2026-11-27T23:00:00Z", "group_by": "model, route"}
    query |= {"model": "m-1", "prompt_version": "", "route": "/a", "environment": "prod"}
    response = client_for(project).get("/api/v1/metrics", query)
    body = response.json()
    assert response.status_code == 200 and (body["metric"], body["interval"], body["series"]) == (
        "traces",
        interval,
        [],
    )


def test_the_answer_carries_the_metrics_declared_meaning(project):
    traces = [simple_trace(project, at=T0) for _ in range(2)]
    scores_upsert(
        project=project,
        items=[ScoreInput(trace_pk=t.pk, name="thumbs_down", source="feedback", value=1.0) for t in traces],
    )
    latency = client_for(project).get("/api/v1/metrics", {**OK, "metric": "latency_ms"}).json()["meaning"]
    assert latency == {
        "label": "Latency",
        "kind": "continuous",
        "headline": "value",
        "direction": "lower_is_better",
        "unit": "ms",
        "value_direction": "lower_is_better",
        "value_unit": "",
        "value_labels": [],
        "source": "trace",
    }
    thumbs = client_for(project).get("/api/v1/metrics", {**OK, "metric": "thumbs_down"}).json()["meaning"]
    assert (thumbs["kind"], thumbs["direction"], thumbs["unit"]) == ("rate", "lower_is_better", "%")
    assert thumbs["value_labels"] == [
        {"value": 1.0, "text": "thumbs down (fail)"},
        {"value": 0.0, "text": "thumbs up (pass)"},
    ]
    traffic_count = client_for(project).get("/api/v1/metrics", OK).json()["meaning"]
    assert (traffic_count["headline"], traffic_count["direction"]) == ("count", "neutral")


def test_from_equal_to_is_an_empty_answer_and_times_without_offset_are_utc(project):
    response = client_for(project).get("/api/v1/metrics", {**OK, "from": "2026-11-27", "to": "2026-11-27T00:00:00"})
    assert response.status_code == 200 and response.json()["series"] == []


@pytest.mark.parametrize(("scope", "status"), [("read", 200), ("write", 200), ("admin", 200), ("feedback", 403)])
def test_read_keys_may_call_it(project, scope, status):
    assert client_for(project, scope).get("/api/v1/metrics", OK).status_code == status


def test_it_needs_a_key(project):
    response = APIClient().get("/api/v1/metrics", OK)
    assert response.status_code == 401 and response.json()["error"]


def test_the_schema_documents_the_operation(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/metrics"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert names == {"metric", "from", "to", "interval", "group_by", "corrected", *DIMS}
    assert {"200", "400", "401", "403", "503"} <= set(operation["responses"])
    point = schema["components"]["schemas"]["MetricPoint"]
    assert set(point["properties"]) == {"t", "count", "value", "pass_rate", "p50", "p95", "p99", *CORRECTED}
    assert set(point["required"]) == {"t", "count", "value", "pass_rate", "p50", "p95", "p99"}  # corrected: when asked
    assert point["properties"]["p99"].get("nullable") is True
    meaning = schema["components"]["schemas"]["MetricMeaning"]
    assert {"direction", "unit", "value_labels", "headline"} <= set(meaning["required"])
