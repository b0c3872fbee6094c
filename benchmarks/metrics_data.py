"""Data generator of the metrics benchmark: one project, N traces and 3N scores over 30 days.

3 models, 6 prompt versions (each rolled out over a sixth of the period, so a release shows as a step),
8 routes, one environment; latency log-normal per model, 2 % errors, tokens and cost per trace. Scores:
`refusal` (binary, ~97 % pass), `grounding` (0–1 with a verdict at 0.5) and `helpfulness` (a 1–5 judge
rating, continuous). Rows are written by INSERT … SELECT generate_series in chunks, straight into the
tables (no spans: the metrics read traces and scores only); then the rollups are built by rollups_rebuild.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection

from apps.core.partitions import PARTITIONED_TABLES, partition_create

CHUNK = 100_000

TRACES_SQL = """
INSERT INTO traces_trace (project_id, trace_id, started_at, ended_at, created_at, updated_at, name, route,
    environment, model, provider, prompt_name, prompt_version, release, user_id, session_id, tags, metadata,
    input_text, output_text, latency_ms, status, error, input_tokens, output_tokens, total_tokens, cost,
    span_count, root_span_id, has_feedback, partition_at)
SELECT %(project)s, md5(%(project)s || ':' || g), t, t + make_interval(secs => lat / 1000.0), now(), now(), 'chat',
    'route-' || r, 'production', 'model-' || m, 'openai', 'support', 'v' || least(6, 1 + floor(pos * 6 + random() * 0.3)),
    '', 'user-' || (g %% 5000), '', '{}', '{}'::jsonb, '', '', lat, CASE WHEN random() < 0.02 THEN 'error' ELSE 'ok' END,
    '', tok * 4 / 5, tok / 5, tok, tok * 0.000002 * (m + 1), 3, '', false, t
FROM (
    SELECT g, pos, %(start)s::timestamptz + pos * %(period)s::interval AS t,
           (g * 7919) %% 3 AS m, (g * 104729) %% 8 AS r,
           exp(ln(200 + 300 * ((g * 7919) %% 3)) + 0.6 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) AS lat,
           (200 + floor(random() * 1800))::bigint AS tok
    FROM (SELECT g, (g + random()) / %(n)s AS pos FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS g) AS x
) AS y
"""

SCORES_SQL = """
INSERT INTO scores_score (project_id, trace_id, span_id, name, value, label, passed, explanation, source,
    evaluator_version, judge_model, metadata, route, model, prompt_version, environment, trace_started_at,
    created_at, updated_at, partition_at)
SELECT t.project_id, t.id, '', s.name, s.value, '', s.passed, '', s.source, '1', '', '{}'::jsonb, t.route, t.model,
    t.prompt_version, t.environment, t.started_at, now(), now(), t.partition_at
FROM traces_trace t CROSS JOIN LATERAL (
    SELECT 'refusal' AS name, NULL::float8 AS value, random() > 0.03 AS passed, 'programmatic' AS source
    UNION ALL
    SELECT 'grounding', v, v >= 0.5, 'programmatic' FROM (SELECT 0.3 + 0.7 * random() AS v) AS gv
    UNION ALL
    SELECT 'helpfulness', 1 + floor(random() * 5), NULL, 'judge'
) AS s
WHERE t.project_id = %(project)s AND t.id > %(after)s
"""


def metrics_data_generate(*, project_id: int, n: int, end: datetime, days: int = 30) -> None:
    """Write n traces spread over `days` before `end`, and 3 scores per trace, in chunks."""
    start = end - timedelta(days=days)
    day = start.date()
    while day <= end.date():  # day partitions of the range first: the rows land in them, not in DEFAULT
        for table in PARTITIONED_TABLES:
            partition_create(table, day)
        day += timedelta(days=1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        for lo in range(0, n, CHUNK):
            hi = min(n, lo + CHUNK)
            params = {"project": project_id, "lo": lo, "hi": hi, "n": n, "start": start, "period": timedelta(days=days)}
            # This chunk's traces are those past the project's highest id before it (one id sequence): a range
            # of the primary key, where looking each trace_id up would probe every day partition's index.
            cursor.execute("SELECT coalesce(max(id), 0) FROM traces_trace WHERE project_id = %s", [project_id])
            params["after"] = cursor.fetchone()[0]
            cursor.execute(TRACES_SQL, params)
            cursor.execute(SCORES_SQL, params)
        cursor.execute("ANALYZE traces_trace")
        cursor.execute("ANALYZE scores_score")


def metrics_data_delete(*, project_id: int) -> None:
    """Delete a project's generated traces, scores and rollups (an interrupted generation is redone whole)."""
    with connection.cursor() as cursor:
        for table in ("scores_rollup", "scores_rollupdirty", "scores_score", "traces_trace"):
            cursor.execute(f"DELETE FROM {table} WHERE project_id = %s", [project_id])  # noqa: S608
