"""The migration from plain tables to partitioned ones keeps every row, and its reverse does too."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [
    ("traces", "0003_pending_evaluations_response_id_index_trace_id_check"),
    ("scores", "0005_rollup_trace_moved_trigger"),
]

SEED_SQL = """
INSERT INTO projects_project (name, slug, created_at, updated_at) VALUES ('m', 'mig-test', now(), now());
INSERT INTO traces_trace (project_id, trace_id, started_at, created_at, updated_at, name, route, environment, model,
    provider, prompt_name, prompt_version, release, user_id, session_id, tags, metadata, input_text, output_text,
    status, error, span_count, root_span_id, has_feedback)
SELECT p.id, md5(g::text), timestamptz '2026-01-01' + g * interval '7 hours', now(), now(), 'n' || g, '', '', '',
    '', '', '', '', '', '', '{}', jsonb_build_object('g', g), repeat('in', g), 'out', 'ok', '', 2, '', false
FROM projects_project p, generate_series(1, 40) g WHERE p.slug = 'mig-test';
INSERT INTO traces_span (project_id, trace_id, span_id, parent_span_id, is_root, name, kind, operation, started_at,
    ended_at, latency_ms, status, error_type, error_message, model, model_requested, provider, prompt_name,
    prompt_version, route, environment, release, user_id, session_id, tags, trace_name, system_instructions,
    input_messages, output_messages, finish_reasons, tool_definitions, tool_calls, retrieval_query, documents,
    request_params, cost_source, raw_input, raw_output, input_text, output_text, attributes, resource, scope, events, truncated,
    evaluations, dropped_attributes_count, created_at)
SELECT t.project_id, t.id, left(md5(t.id::text || k::text), 16), '', k = 1, 's', 'llm', '', t.started_at,
    t.started_at, 1, 'ok', '', '', '', '', '', '', '', '', '', '', '', '', '{}', '', '', '[]', '[]', '[]', '[]', '[]',
    '', '[]', '{}', '', '', '', 'x', 'y', jsonb_build_object('k', k), '{}', '{}', '[]', '[]', '[]', 0, now()
FROM traces_trace t, generate_series(1, 2) k;
INSERT INTO scores_score (project_id, trace_id, span_id, name, value, label, passed, explanation, source,
    evaluator_version, judge_model, metadata, route, model, prompt_version, environment, trace_started_at,
    created_at, updated_at)
SELECT t.project_id, t.id, '', 'q', t.id, '', true, '', 'external', '', '', '{}', '', '', '', '', t.started_at,
    now(), now()
FROM traces_trace t;
"""
TRIGGER_SQL = """
CREATE FUNCTION keep_me() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.name := 'moved'; RETURN NEW; END $$;
CREATE TRIGGER keep_me BEFORE UPDATE OF started_at ON traces_trace FOR EACH ROW EXECUTE FUNCTION keep_me();
"""
# A fingerprint of every row's content (partition_at excluded: it does not exist before).
FINGERPRINT_SQL = """
SELECT (SELECT count(*) FROM traces_trace), (SELECT count(*) FROM traces_span), (SELECT count(*) FROM scores_score),
    (SELECT md5(string_agg(id || trace_id || started_at::text || input_text || metadata::text, ',' ORDER BY id))
     FROM traces_trace),
    (SELECT md5(string_agg(id || '/' || trace_id || span_id || attributes::text, ',' ORDER BY id)) FROM traces_span),
    (SELECT md5(string_agg(id || '/' || trace_id || value::text, ',' ORDER BY id)) FROM scores_score)
"""


def _migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_partitioning_keeps_every_row_forward_and_back():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        _migrate(BEFORE)
        with connection.cursor() as cursor:
            cursor.execute(TRIGGER_SQL)  # as the rollups add one on traces_trace
            cursor.execute(SEED_SQL)
            cursor.execute(FINGERPRINT_SQL)
            before = cursor.fetchone()
        assert before[:3] == (40, 80, 40)
        _migrate(latest)
        with connection.cursor() as cursor:
            cursor.execute(FINGERPRINT_SQL)
            assert cursor.fetchone() == before
            cursor.execute("SELECT relkind FROM pg_class WHERE relname = 'traces_span'")
            assert cursor.fetchone()[0] == "p"
            # Every span and score sits in its trace's time slice, and old days got their own partitions.
            cursor.execute(
                "SELECT count(*) FROM traces_span s JOIN traces_trace t ON t.id = s.trace_id "
                "WHERE s.partition_at = t.partition_at AND t.partition_at = t.started_at"
            )
            assert cursor.fetchone()[0] == 80
            cursor.execute(
                "SELECT count(*) FROM scores_score s JOIN traces_trace t ON t.id = s.trace_id "
                "AND s.partition_at = t.partition_at"
            )
            assert cursor.fetchone()[0] == 40
            cursor.execute("SELECT count(*) FROM ONLY traces_trace_default")
            assert cursor.fetchone()[0] == 0
            # The trigger survived the rebuild, on the table and (cloned) on its partitions, and still fires.
            cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'keep_me' AND NOT tgisinternal")
            assert cursor.fetchone()[0] > 1
            cursor.execute(
                "UPDATE traces_trace SET started_at = started_at - interval '1 second' WHERE trace_id = md5('1')"
            )
            cursor.execute("SELECT count(*) FROM traces_trace WHERE name = 'moved'")
            assert cursor.fetchone()[0] == 1
            # New rows continue the id sequence.
            cursor.execute(
                "INSERT INTO traces_trace (project_id, trace_id, started_at, partition_at, created_at, updated_at, "
                "name, route, environment, model, provider, prompt_name, prompt_version, release, user_id, session_id, "
                "tags, metadata, input_text, output_text, status, error, span_count, root_span_id, has_feedback) "
                "SELECT project_id, 'f' || left(trace_id, 31), now(), now(), now(), now(), '', '', '', '', '', '', '', '', '', "
                "'', '{}', '{}', '', '', 'ok', '', 0, '', false FROM traces_trace ORDER BY id DESC LIMIT 1 RETURNING id"
            )
            new_id = cursor.fetchone()[0]
            cursor.execute("SELECT max(id) FROM traces_trace WHERE id <> %s", [new_id])
            assert new_id > cursor.fetchone()[0]
        _migrate(BEFORE)  # and back: plain tables with the same rows
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE relname = 'traces_trace'")
            assert cursor.fetchone()[0] == "r"
            cursor.execute("SELECT count(*) FROM traces_trace")
            assert cursor.fetchone()[0] == 41
    finally:
        _migrate(latest)
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS keep_me ON traces_trace; DROP FUNCTION IF EXISTS keep_me()")
