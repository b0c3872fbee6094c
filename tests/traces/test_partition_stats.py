"""Planner statistics of the day partitions being written, and lz4 TOAST on the stored span content."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection

from apps.core import partitions
from apps.traces import bulk
from apps.traces.models import Span
from apps.traces.services import spans_ingest
from tests.traces.factories import new_trace_id, span

DAY = date(2033, 7, 14)  # no partition exists for it until a test makes one
NOW = datetime(2033, 7, 14, 9, 30, tzinfo=UTC)
SPAN_LZ4 = ["input_messages", "output_messages", "documents", "input_text", "output_text", "attributes"]


def _reltuples(name: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [name])
        return cursor.fetchone()[0]


def _stats_columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT attname FROM pg_stats WHERE tablename = %s", [table])
        return {name for (name,) in cursor.fetchall()}


def _compression(table: str, columns: list[str]) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, attcompression::text FROM pg_attribute WHERE attrelid = to_regclass(%s) "
            "AND attname = ANY(%s) AND NOT attisdropped",
            [table, columns],
        )
        return dict(cursor.fetchall())


def _lz4_available() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        return bool(cursor.fetchone()[0])


def _drop_day_partitions(days: list[date]) -> None:
    for table in partitions.PARTITIONED_TABLES:
        for part in partitions.partitions_list(table):
            if part.start is not None and part.start.date() in days:
                partitions.partition_drop(table, part)


@pytest.mark.django_db
def test_analyze_skips_days_without_a_partition():
    assert partitions.partitions_analyze(now=NOW) == []


@pytest.mark.django_db
def test_analyze_runs_once_on_partitions_never_analyzed_then_only_after_they_change():
    partitions.partitions_ensure(now=NOW, days_ahead=1)
    names = {
        partitions.partition_name(t, DAY + timedelta(days=d)) for t in partitions.PARTITIONED_TABLES for d in (0, 1)
    }
    assert all(_reltuples(n) < 0 for n in names)  # created ahead: no statistics at all

    assert set(partitions.partitions_analyze(now=NOW)) == names
    assert all(_reltuples(n) == 0 for n in names)  # analyzed, empty
    assert partitions.partitions_analyze(now=NOW) == []  # nothing changed: nothing to do
    assert partitions.partitions_analyze(now=NOW, min_rows=0) == []  # 0 rows changed is below any fraction of 0


@pytest.mark.django_db(transaction=True)
def test_analyze_picks_up_a_partition_that_grew(project):
    partitions.partitions_ensure(now=NOW, days_ahead=1)
    try:
        partitions.partitions_analyze(now=NOW)
        spans = [span(new_trace_id(), start_ms=i, duration_ms=5, at=NOW, is_root=True) for i in range(30)]
        spans_ingest(project=project, spans=spans)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")  # this session's counters, as a later job sees them

        assert partitions.partitions_analyze(now=NOW) == []  # 30 rows: below PARTITION_ANALYZE_MIN_ROWS
        analyzed = partitions.partitions_analyze(now=NOW, min_rows=10)
        day_spans, day_traces = (partitions.partition_name(t, DAY) for t in ("traces_span", "traces_trace"))
        assert {day_spans, day_traces} <= set(analyzed)
        assert _reltuples(day_spans) == 30
        assert _reltuples(day_traces) == 30
        # Keys and filters get statistics; stored content no plan reads is skipped on a partition made ahead too.
        span_stats = _stats_columns(day_spans)
        assert {"trace_id", "span_id", "started_at", "kind"} <= span_stats
        assert not span_stats & {"input_text", "output_text", "attributes", "documents", "input_messages", "resource"}
        assert {"input_text", "output_text"} <= _stats_columns(day_traces)  # the text search plans on these
        assert partitions.partitions_analyze(now=NOW, min_rows=10) == []
    finally:
        _drop_day_partitions([DAY, DAY + timedelta(days=1)])


@pytest.mark.django_db
def test_span_content_columns_are_lz4_on_every_partition_including_new_ones():
    if not _lz4_available():
        pytest.skip("server built without lz4: the columns keep pglz")
    partitions.partitions_ensure(now=NOW, days_ahead=0)
    tables = ["traces_span", partitions.default_name("traces_span"), partitions.partition_name("traces_span", DAY)]
    for table in tables:
        assert _compression(table, SPAN_LZ4) == dict.fromkeys(SPAN_LZ4, "l"), table
    trace_columns = ["input_text", "output_text", "metadata"]
    assert _compression(partitions.partition_name("traces_trace", DAY), trace_columns) == dict.fromkeys(
        trace_columns, "l"
    )


@pytest.mark.django_db
def test_ingested_span_content_is_stored_lz4_compressed(project):
    """The staging table follows traces_span's compression: the COPYed datum is kept as it is by INSERT … SELECT."""
    if not _lz4_available():
        pytest.skip("server built without lz4")
    text = " ".join(secrets.token_hex(4) if i % 7 == 0 else "retrieved passage about refunds" for i in range(900))
    tid = new_trace_id()
    spans_ingest(
        project=project,
        spans=[span(tid, start_ms=0, duration_ms=10, is_root=True, kind="llm", input_text=text, output_text=text)],
    )
    assert _compression(bulk.STAGE_TABLE, ["input_text", "output_text"]) == {"input_text": "l", "output_text": "l"}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_compression(input_text), pg_column_compression(output_text) FROM traces_span "
            "WHERE project_id = %s",
            [project.pk],
        )
        assert cursor.fetchall() == [("lz4", "lz4")]
    assert Span.objects.get(project=project).input_text == text


@pytest.mark.django_db
def test_the_staging_table_has_exactly_the_staged_columns():
    bulk.stage_prepare()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum",
            [bulk.STAGE_TABLE],
        )
        columns = [r[0] for r in cursor.fetchall()]
    assert sorted(columns) == sorted(["trace_hex", *bulk.SPAN_FIELDS])


def _flush_stats() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")


@pytest.mark.django_db(transaction=True)
def test_the_post_ingest_check_runs_the_analyze_at_most_once_per_interval(project, settings):
    from django.core.cache import cache

    settings.PARTITION_ANALYZE_MIN_ROWS = 1
    partitions.partitions_ensure(days_ahead=1)  # today's and tomorrow's partitions
    now = datetime.now(UTC)
    today_spans = partitions.partition_name("traces_span", now.date())
    cache.delete(partitions.ANALYZE_DUE_CACHE_KEY)
    try:
        spans_ingest(project=project, spans=[span(new_trace_id(), start_ms=0, duration_ms=5, at=now, is_root=True)])
        _flush_stats()
        assert today_spans in partitions.partitions_analyze_due(project_id=project.pk, trace_pks=[])

        spans_ingest(project=project, spans=[span(new_trace_id(), start_ms=0, duration_ms=5, at=now, is_root=True)])
        _flush_stats()
        assert partitions.partitions_analyze_due(project_id=project.pk, trace_pks=[]) == []  # within the interval
        assert today_spans in partitions.partitions_analyze()  # it was due: the throttle held it back
    finally:
        cache.delete(partitions.ANALYZE_DUE_CACHE_KEY)
