"""Data generator of the metrics and trace-list benchmarks: one project, N traces and 3N scores over 30 days.

3 models, 6 prompt versions (each rolled out over a sixth of the period, so a release shows as a step),
8 routes, one environment; latency log-normal per model, 2 % errors, tokens and cost per trace. Scores:
`refusal` (binary, ~97 % pass), `grounding` (0–1 with a verdict at 0.5) and `helpfulness` (a 1–5 judge
rating, continuous). Rows are written by INSERT … SELECT generate_series in chunks, straight into the
tables (no spans: the metrics read traces and scores only), into daily partitions created first; then the
rollups are built by rollups_rebuild.

With `text=True` (the trace-list benchmark) each trace also gets an input (a question from QUESTIONS plus
0.2–1.2 KB of context) and an output (an answer from ANSWERS, 0.3–1.6 KB), so search has material: the
term "password" is in 1 question in 12 (common), "kangaroo" in one trace in 10,000 (rare), "zeppelin" in
none; 4 consecutive traces share a session (`s-<n>`, 80 % of traces carry one) and its user. The trigram
indexes are dropped during the load and rebuilt once after it (far cheaper than 1M incremental GIN inserts).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import connection

from apps.core.partitions import partition_create

CHUNK = 100_000
PARTITIONED = ("traces_trace", "traces_span", "scores_score")
TRIGRAM_INDEXES = ("trace_name_trgm", "trace_input_trgm", "trace_output_trgm")

QUESTIONS = [
    "How do I reset my password?",
    "Where can I download last month's invoice?",
    "Can I change the billing currency of my account?",
    "Why was my card declined when I upgraded?",
    "How do I invite a teammate to the workspace?",
    "What is the rate limit of the public API?",
    "How can I export my data as CSV?",
    "Is there a way to delete my account permanently?",
    "How do I connect the Slack integration?",
    "My report shows different totals than the dashboard, why?",
    "Can two people edit the same document at once?",
    "How long do you keep backups of deleted projects?",
]
ANSWERS = [
    "Open Settings, then Security, and choose Reset. We send a link to the address on file; it expires in one hour.",
    "Invoices are under Billing > History. Each row has a PDF link; older invoices can be requested from support.",
    "The billing currency is fixed once the first invoice is issued. Support can migrate it at the next renewal.",
    "Declines usually come from the issuing bank's fraud check. Retry once, or use another card on the plan page.",
    "Admins invite teammates from Members. The invitation link is valid for seven days and can be revoked.",
    "The public API allows 600 requests per minute per key; bursts above it get 429 with a Retry-After header.",
]
FILLER = (
    "Context from the help center follows. Articles are ranked by relevance and trimmed to the paragraphs that "
    "mention the question's terms; the assistant must cite them by number and say so when none applies. "
)

TRACES_SQL = """
INSERT INTO traces_trace (project_id, trace_id, started_at, partition_at, ended_at, created_at, updated_at, name,
    route, environment, model, provider, prompt_name, prompt_version, release, user_id, session_id, tags, metadata,
    input_text, output_text, latency_ms, status, error, input_tokens, output_tokens, total_tokens, cost, cost_source,
    span_count, root_span_id, has_feedback)
SELECT %(project)s, md5(%(project)s || ':' || g), t, t, t + make_interval(secs => lat / 1000.0), now(), now(), 'chat',
    'route-' || r, 'production', 'model-' || m, 'openai', 'support', 'v' || least(6, 1 + floor(pos * 6 + random() * 0.3)),
    '', {user}, {session}, '{{}}', '{{}}'::jsonb, {input}, {output}, lat,
    CASE WHEN random() < 0.02 THEN 'error' ELSE 'ok' END,
    '', tok * 4 / 5, tok / 5, tok, tok * 0.000002 * (m + 1), CASE WHEN g %% 2 = 0 THEN 'computed' ELSE 'reported' END,
    3, '', false
FROM (
    SELECT g, pos, %(start)s::timestamptz + pos * %(period)s::interval AS t,
           (g * 7919) %% 3 AS m, (g * 104729) %% 8 AS r,
           exp(ln(200 + 300 * ((g * 7919) %% 3)) + 0.6 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) AS lat,
           (200 + floor(random() * 1800))::bigint AS tok
    FROM (SELECT g, (g + random()) / %(n)s AS pos FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS g) AS x
) AS y
"""
PLAIN = {"user": "'user-' || (g %% 5000)", "session": "''", "input": "''", "output": "''"}
TEXT = {
    "user": "'user-' || ((g / 4) %% 5000)",
    "session": "CASE WHEN (g / 4) %% 5 = 0 THEN '' ELSE 's-' || (g / 4) END",
    "input": (
        "(%(questions)s::text[])[1 + (g * 13) %% 12] || ' (ticket ' || g || ') '"
        " || repeat(%(filler)s, 1 + (g %% 5)::int)"
        " || CASE WHEN g %% 10000 = 7 THEN ' The customer mentions a kangaroo logo.' ELSE '' END"
    ),
    "output": "repeat((%(answers)s::text[])[1 + (g * 7) %% 6] || ' ', 3 + (g %% 13)::int) || 'Reference ' || g || '.'",
}

SCORES_SQL = """
INSERT INTO scores_score (project_id, trace_id, span_id, name, value, label, passed, explanation, source,
    evaluator_version, judge_model, metadata, route, model, prompt_version, environment, trace_started_at,
    partition_at, created_at, updated_at)
SELECT t.project_id, t.id, '', s.name, s.value, '', s.passed, '', s.source, '1', '', '{}'::jsonb, t.route, t.model,
    t.prompt_version, t.environment, t.started_at, t.partition_at, now(), now()
FROM traces_trace t CROSS JOIN LATERAL (
    SELECT 'refusal' AS name, NULL::float8 AS value, random() > 0.03 AS passed, 'programmatic' AS source
    UNION ALL
    SELECT 'grounding', v, v >= 0.5, 'programmatic' FROM (SELECT 0.3 + 0.7 * random() AS v) AS gv
    UNION ALL
    SELECT 'helpfulness', 1 + floor(random() * 5), NULL, 'judge'
) AS s
WHERE t.project_id = %(project)s AND t.id > %(after_id)s AND t.id <= %(last_id)s
"""


def partitions_create_days(*, first: date, last: date) -> None:
    """Create the daily partitions of the partitioned tables from `first` to `last` (rows skip DEFAULT)."""
    day = first
    while day <= last:
        for table in PARTITIONED:
            partition_create(table, day)
        day += timedelta(days=1)


def metrics_data_generate(*, project_id: int, n: int, end: datetime, days: int = 30, text: bool = False) -> None:
    """Write n traces spread over `days` before `end`, and 3 scores per trace, in chunks."""
    start = end - timedelta(days=days)
    partitions_create_days(first=start.date(), last=end.date())
    sql = TRACES_SQL.format(**(TEXT if text else PLAIN))
    with connection.cursor() as cursor:
        index_defs: list[str] = []
        if text:
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'traces_trace' AND indexname = ANY(%s)",
                [list(TRIGRAM_INDEXES)],
            )
            for name, definition in cursor.fetchall():
                index_defs.append(definition.replace(" ON ONLY ", " ON "))  # the parent and every partition
                cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SELECT setseed(0.42)")
        for lo in range(0, n, CHUNK):
            hi = min(n, lo + CHUNK)
            params = {
                "project": project_id,
                "lo": lo,
                "hi": hi,
                "n": n,
                "start": start,
                "period": timedelta(days=days),
                "questions": QUESTIONS,
                "answers": ANSWERS,
                "filler": FILLER,
            }
            cursor.execute("SELECT coalesce(max(id), 0) FROM traces_trace")
            params["after_id"] = cursor.fetchone()[0]
            cursor.execute(sql, params)
            cursor.execute("SELECT coalesce(max(id), 0) FROM traces_trace")
            params["last_id"] = cursor.fetchone()[0]
            cursor.execute(SCORES_SQL, params)  # the chunk's traces: the ids the sequence just gave
        if index_defs:
            cursor.execute("SET maintenance_work_mem = '512MB'")
            for definition in index_defs:
                cursor.execute(definition)
        cursor.execute("ANALYZE traces_trace")
        cursor.execute("ANALYZE scores_score")


def metrics_data_delete(*, project_id: int) -> None:
    """Delete a project's generated traces, scores and rollups (an interrupted generation is redone whole)."""
    with connection.cursor() as cursor:
        for table in ("scores_rollup", "scores_rollupdirty", "scores_score", "traces_trace"):
            cursor.execute(f"DELETE FROM {table} WHERE project_id = %s", [project_id])  # noqa: S608
