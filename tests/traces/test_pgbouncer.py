"""Ingest through a real PgBouncer in transaction pooling mode: no per-session state may outlive a transaction."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection

from apps.traces.models import Span
from config.settings import database_from_url
from tests.support import pgbouncer
from tests.support.otlp import genai_request, protobuf_body, record_spans

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not pgbouncer.available(), reason="pgbouncer is not installed (apt-get install pgbouncer)"),
]


@pytest.fixture
def pooled(transactional_db, settings) -> Iterator[int]:
    """Point Django's connection at a fresh pgbouncer with the pooled settings; yield pgbouncer's port."""
    db = connection.settings_dict
    user = db["USER"] or "postgres"
    with pgbouncer.pgbouncer(host=db["HOST"] or "127.0.0.1", port=int(db["PORT"] or 5432), user=user) as port:
        keys = ("HOST", "PORT", "OPTIONS", "DISABLE_SERVER_SIDE_CURSORS")
        saved = {key: db.get(key) for key in keys}
        through = database_from_url(f"postgres://{user}@127.0.0.1:{port}/{db['NAME']}", pooled=True)
        connection.close()
        db.update({key: through[key] for key in keys})
        settings.DATABASE_POOLED = True
        try:
            yield port
        finally:
            connection.close()
            db.update(saved)


def test_the_pooled_setting_turns_off_what_lives_in_one_server_session() -> None:
    # Django connects with prepare_threshold None unless OPTIONS say otherwise; behind a pooler the URL cannot.
    pooled = database_from_url("postgres://u@h:6432/d?prepare_threshold=5", pooled=True)
    direct = database_from_url("postgres://u@h:5432/d")
    assert pooled["OPTIONS"]["prepare_threshold"] is None and pooled["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert "prepare_threshold" not in direct["OPTIONS"] and direct["DISABLE_SERVER_SIDE_CURSORS"] is False


def test_direct_connections_turn_jit_off_and_pooled_ones_leave_it_to_the_database(monkeypatch) -> None:
    # PgBouncer drops startup options (ignore_startup_parameters), so behind it the README's ALTER DATABASE applies.
    monkeypatch.delenv("DB_JIT", raising=False)
    assert database_from_url("postgres://u@h:5432/d")["OPTIONS"]["options"] == "-c jit=off"
    assert "options" not in database_from_url("postgres://u@h:6432/d", pooled=True)["OPTIONS"]
    kept = database_from_url("postgres://u@h:5432/d?options=-c%20statement_timeout%3D5000")["OPTIONS"]["options"]
    assert kept == "-c statement_timeout=5000 -c jit=off"
    assert database_from_url("postgres://u@h:5432/d?options=-c%20jit%3Don")["OPTIONS"]["options"] == "-c jit=on"
    monkeypatch.setenv("DB_JIT", "1")
    assert "options" not in database_from_url("postgres://u@h:5432/d")["OPTIONS"]


def test_the_test_connection_runs_without_jit(db) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def test_otlp_ingest_through_pgbouncer_in_transaction_mode_stores_every_span(pooled, project, api_key, client) -> None:
    blockers: list[psycopg.Connection] = []
    sent: set[tuple[str, str]] = set()
    try:
        for _ in range(4):
            spans = record_spans(lambda tracer: [genai_request(tracer) for _ in range(3)])
            response = client.post(
                "/v1/traces",
                data=protobuf_body(spans),
                content_type="application/x-protobuf",
                HTTP_AUTHORIZATION=f"Bearer {api_key}",
            )
            assert response.status_code == 200, response.content
            sent |= {(format(s.context.trace_id, "032x"), format(s.context.span_id, "016x")) for s in spans}
            # An open transaction takes the server session Django just released (pgbouncer reuses the last one
            # first), so Django's next batch runs on a session it has never used: nothing may be carried over.
            blocker = psycopg.connect(
                host="127.0.0.1", port=pooled, user="postgres", dbname=connection.settings_dict["NAME"]
            )
            blocker.execute("SELECT 1")
            blockers.append(blocker)
    finally:
        for blocker in blockers:
            blocker.close()
    stored = set(Span.objects.filter(project=project).values_list("trace__trace_id", "span_id"))
    assert len(sent) == 36
    assert stored == sent
