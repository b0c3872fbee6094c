"""Random traffic for the rollup property tests: traces, duplicate and late spans, scores, drains.

Shared by tests/scores/test_rollups.py and test_metrics_api.py. Everything goes through the real
services (spans_ingest, the post-ingest batch job, scores_upsert), so the rows are what production writes.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection
from hypothesis import strategies as st

from apps.projects.models import Project
from apps.scores.metrics import BUILTIN_METRICS
from apps.scores.rollups import rollups_drain
from apps.scores.services import ScoreInput, scores_upsert
from apps.traces.models import IngestBatch
from apps.traces.normalize import NormalizedSpan
from apps.traces.services import ingest_batch_process, spans_ingest, traces_ensure

# 23:57 UTC: offsets of a few minutes cross an hour and a day boundary.
T0 = datetime(2026, 11, 27, 23, 57, tzinfo=UTC)
MODELS = ["m-1", "m-2"]
PROMPT_VERSIONS = ["v1", "v2", ""]
ROUTES = ["/a", "/b"]
ENVIRONMENTS = ["prod", ""]
SCORE_NAMES = ["quality", "grounding", "thumbs_down", "latency_ms"]  # the last is shadowed by the built-in
N_TRACES = 3

values = st.one_of(
    st.none(),
    st.floats(min_value=-1e12, max_value=1e12),  # bounded: sums stay finite whatever the order of addition
    st.sampled_from([0.0, 1.0, -1.0, 0.5, 1e-300, 5e-324, math.nan, math.inf, -math.inf]),
)

span_op = st.tuples(
    st.just("span"),
    st.integers(0, N_TRACES - 1),  # which trace
    st.integers(0, 5),  # minute offset from T0
    st.integers(0, 59_999),  # ms in the minute
    st.floats(min_value=0, max_value=30_000),  # duration ms
    st.sampled_from(MODELS),
    st.sampled_from(PROMPT_VERSIONS),
    st.sampled_from(ROUTES),
    st.sampled_from(ENVIRONMENTS),
    st.sampled_from(["ok", "error", "unset"]),
    st.one_of(st.none(), st.integers(0, 5000)),  # tokens
    st.one_of(st.none(), st.floats(min_value=0, max_value=1)),  # cost
    st.booleans(),  # root span
)
score_op = st.tuples(
    st.just("score"),
    st.integers(0, N_TRACES - 1),
    st.sampled_from(SCORE_NAMES),
    values,
    st.sampled_from([None, True, False]),
    st.sampled_from(["", "v2"]),  # evaluator version: same key replaces, another adds
    st.integers(0, 5),  # minute of the placeholder trace when the score comes before any span
)
traffic = st.lists(
    st.tuples(
        st.one_of(
            span_op,
            span_op,  # twice as likely: spans of one trace across minutes move its start
            score_op,
            st.just(("duplicate",)),
            st.just(("batches",)),
            st.just(("drain",)),
        ),
        st.booleans(),  # then let the batch jobs and a drain run: later ops change what was already rolled up
    ),
    min_size=1,
    max_size=16,
)


@dataclass
class TrafficState:
    project: Project
    trace_ids: list[str] = field(default_factory=lambda: [secrets.token_hex(16) for _ in range(N_TRACES)])
    sent: list[list[NormalizedSpan]] = field(default_factory=list)


def batches_run() -> None:
    """Run the post-ingest jobs the worker would run (evaluators, dimension refresh, dirty marks)."""
    for batch_id in IngestBatch.objects.filter(state=IngestBatch.State.PENDING).values_list("id", flat=True):
        ingest_batch_process(batch_id=batch_id)


def traffic_apply(state: TrafficState, ops: list[tuple]) -> None:
    """Apply the operations in order, then let the batch jobs and the drain catch up."""
    for op, settle in ops:
        kind = op[0]
        if kind == "span":
            _, i, minute, ms, duration, model, pv, route, env, status, tokens, cost, root = op
            start = T0 + timedelta(minutes=minute, milliseconds=ms)
            span = NormalizedSpan(
                trace_id=state.trace_ids[i],
                span_id=secrets.token_hex(8),
                is_root=root,
                kind="llm",
                started_at=start,
                ended_at=start + timedelta(milliseconds=duration),
                latency_ms=duration,
                model=model,
                prompt_version=pv,
                route=route,
                environment=env,
                status=status,
                total_tokens=tokens,
                cost_total=cost,
            )
            spans_ingest(project=state.project, spans=[span])
            state.sent.append([span])
        elif kind == "duplicate" and state.sent:
            spans_ingest(project=state.project, spans=state.sent[-1])  # a client retry: stored once
        elif kind == "score":
            _, i, name, value, passed, version, minute = op
            pks = traces_ensure(project=state.project, started={state.trace_ids[i]: T0 + timedelta(minutes=minute)})
            item = ScoreInput(
                trace_pk=pks[state.trace_ids[i]],
                name=name,
                source="external",
                value=value,
                passed=passed,
                evaluator_version=version,
            )
            scores_upsert(project=state.project, items=[item])
        elif kind == "batches":
            batches_run()
        elif kind == "drain":
            rollups_drain()
        if settle:
            batches_run()
            rollups_drain()
    batches_run()
    rollups_drain()


# The reference: the same figures computed directly from the raw rows in one statement per level, with no
# rollup table involved (GROUP BY CUBE over the raw observations).
REFERENCE_SQL = """
WITH obs AS (
    SELECT m.metric, t.started_at AS ts, t.model, t.prompt_version, t.route, t.environment, m.x,
           NULL::boolean AS passed, m.sk
    FROM traces_trace t CROSS JOIN LATERAL (VALUES
        ('traces', NULL::float8, false),
        ('errors', CASE WHEN t.status = 'error' THEN 1.0::float8 ELSE 0.0::float8 END, false),
        ('latency_ms', t.latency_ms, true),
        ('tokens', t.total_tokens::float8, false),
        ('cost', t.cost, false)) AS m(metric, x, sk)
    WHERE t.project_id = %(project)s AND t.span_count > 0
    UNION ALL
    SELECT s.name, t.started_at, t.model, t.prompt_version, t.route, t.environment, s.value, s.passed, true
    FROM scores_score s JOIN traces_trace t ON t.id = s.trace_id
    WHERE t.project_id = %(project)s AND NOT (s.name = ANY(%(builtins)s))
), fin AS (
    SELECT metric, ts, model, prompt_version, route, environment, passed, sk,
           CASE WHEN x IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8) THEN NULL ELSE x END AS x
    FROM obs
)
SELECT metric, date_bin(%(step)s, ts, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket,
       15 - GROUPING(model, prompt_version, route, environment) AS dims,
       coalesce(model, ''), coalesce(prompt_version, ''), coalesce(route, ''), coalesce(environment, ''),
       count(*), count(x), coalesce(sum(x), 0), count(*) FILTER (WHERE passed), count(*) FILTER (WHERE NOT passed),
       coalesce(array_agg(x ORDER BY x) FILTER (WHERE sk AND x IS NOT NULL), '{}'), coalesce(sum(abs(x)), 0)
FROM fin
GROUP BY metric, bucket, CUBE (model, prompt_version, route, environment)
"""


def reference_rows(project: Project, step: int) -> dict[tuple, tuple]:
    """(metric, bucket, dims, model, prompt_version, route, environment) → (count, value_count, value_sum,
    passed, failed, sorted finite sketched values, sum of |value|), straight from traces and scores."""
    with connection.cursor() as cursor:
        cursor.execute(
            REFERENCE_SQL, {"project": project.pk, "step": timedelta(seconds=step), "builtins": list(BUILTIN_METRICS)}
        )
        return {tuple(row[:7]): tuple(row[7:]) for row in cursor.fetchall()}


def exact_quantile(values: list[float], q: float) -> float:
    """The value DDSketch approximates: the ⌊q·(n−1)⌋-th smallest."""
    return values[math.floor(q * (len(values) - 1))]


def sums_close(a: float, b: float, magnitude: float) -> bool:
    """Float sums added in another order agree to rounding of the magnitudes summed."""
    return abs(a - b) <= 1e-12 * max(1.0, magnitude)
