"""Time partitions of traces, spans and scores: moving start times, concurrent batches, gaps, retention."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections

from apps.core import partitions
from apps.projects.services import project_create
from apps.scores.models import Score
from apps.scores.services import ScoreInput, scores_expire, scores_upsert
from apps.traces.models import Span, Trace
from apps.traces.services import spans_ingest, traces_expire
from tests.traces.factories import new_trace_id, span

T0 = datetime(2031, 5, 10, 12, 0, tzinfo=UTC)  # far from today: no partition exists for it until a test makes one


def _partition_of(table: str, **where: object) -> list[str]:
    cond = " AND ".join(f"{k} = %s" for k in where)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE {cond}", list(where.values()))
        return [r[0] for r in cursor.fetchall()]


@pytest.mark.django_db
def test_a_trace_whose_start_moves_earlier_keeps_one_row_and_one_partition(project):
    tid = new_trace_id()
    spans_ingest(project=project, spans=[span(tid, start_ms=0, duration_ms=100, at=T0, kind="llm", is_root=False)])
    # The root span arrives later and starts ten minutes earlier (across midnight: another day).
    earlier = T0 - timedelta(hours=12, minutes=10)
    spans_ingest(project=project, spans=[span(tid, start_ms=0, duration_ms=50, at=earlier, is_root=True)])
    (trace,) = Trace.objects.filter(project=project, trace_id=tid)
    assert trace.started_at == earlier
    assert trace.partition_at == T0  # immutable: the first stored start
    assert trace.span_count == 2
    assert set(Span.objects.filter(trace=trace).values_list("partition_at", flat=True)) == {T0}
    scores_upsert(project=project, items=[ScoreInput(trace_pk=trace.pk, name="ok", source="external", value=1.0)])
    assert Score.objects.get(trace=trace).partition_at == T0


@pytest.mark.django_db
def test_a_trace_whose_later_spans_arrive_after_midnight_keeps_one_row(project):
    """Spans of one trace in two requests on two days (23:59:58 and 00:00:03 UTC) make one trace row, not two."""
    partitions.partitions_maintain(now=T0)  # both days have their partition
    tid = new_trace_id()
    before = T0.replace(hour=23, minute=59, second=58)
    after = before + timedelta(seconds=5)
    spans_ingest(project=project, spans=[span(tid, start_ms=0, duration_ms=100, at=before, is_root=True)])
    spans_ingest(project=project, spans=[span(tid, start_ms=0, duration_ms=100, at=after, kind="llm", is_root=False)])
    (trace,) = Trace.objects.filter(project=project, trace_id=tid)
    assert (trace.partition_at, trace.started_at, trace.span_count) == (before, before, 2)
    assert set(Span.objects.filter(trace=trace).values_list("partition_at", flat=True)) == {before}
    assert _partition_of("traces_trace", trace_id=tid) == [f"traces_trace_p{before:%Y%m%d}"]


@pytest.mark.django_db
def test_redelivering_the_same_batch_stores_nothing_twice(project):
    tid = new_trace_id()
    batch = [span(tid, start_ms=i * 10, duration_ms=5, at=T0, is_root=(i == 0)) for i in range(5)]
    first = spans_ingest(project=project, spans=batch)
    again = spans_ingest(project=project, spans=batch)
    assert (first.inserted, again.inserted) == (5, 0)
    assert Trace.objects.filter(project=project, trace_id=tid).count() == 1
    assert Span.objects.filter(project=project).count() == 5
    assert Trace.objects.get(project=project, trace_id=tid).span_count == 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_batches_of_one_trace_create_one_trace_row():
    project = project_create(name="concurrent")
    tids = [new_trace_id() for _ in range(3)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def ingest(offset_ms: int) -> None:
        try:
            # Each batch holds spans of all three traces, starting at different times (different partition_at).
            spans = [span(t, start_ms=offset_ms, duration_ms=5, at=T0) for t in tids]
            barrier.wait()
            spans_ingest(project=project, spans=list(reversed(spans)) if offset_ms % 2 else spans)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ingest, args=(n * 1000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for tid in tids:
        (trace,) = Trace.objects.filter(project=project, trace_id=tid)
        assert trace.span_count == 4
        assert trace.started_at == T0
        assert Span.objects.filter(trace=trace, partition_at=trace.partition_at).count() == 4


@pytest.mark.django_db(transaction=True)
def test_ingest_into_a_day_without_partition_lands_in_default_and_is_split_out_later():
    project = project_create(name="gap")
    day = T0.date()
    assert not any(p.start and p.start.date() == day for p in partitions.partitions_list("traces_trace"))
    tid = new_trace_id()
    spans_ingest(project=project, spans=[span(tid, start_ms=0, duration_ms=5, at=T0, is_root=True)])
    assert _partition_of("traces_trace", trace_id=tid) == ["traces_trace_default"]
    gaps = partitions.partitions_maintain(now=T0 - timedelta(days=1))  # the beat run of the day before
    assert gaps == []
    assert _partition_of("traces_trace", trace_id=tid) == [partitions.partition_name("traces_trace", day)]
    span_row = Span.objects.get(project=project)
    assert _partition_of("traces_span", id=span_row.id) == [partitions.partition_name("traces_span", day)]
    names = {p.name for p in partitions.partitions_list("scores_score")}
    ahead = [
        partitions.partition_name("scores_score", day + timedelta(days=i))
        for i in range(-1, settings.PARTITION_DAYS_AHEAD)
    ]
    assert set(ahead) <= names  # created ahead, every table
    assert Trace.objects.get(project=project, trace_id=tid).span_count == 1


@pytest.mark.django_db(transaction=True)
def test_a_gap_is_reported_by_the_job_and_readyz(client):
    far = datetime(2033, 1, 1, tzinfo=UTC)
    gaps = partitions.partitions_gaps(now=far, days_ahead=2)
    assert {g.table for g in gaps} == set(partitions.PARTITIONED_TABLES)
    assert "no partition for 2033-01-01, 2033-01-02, 2033-01-03" in str(gaps[0])
    cache.set(partitions.GAPS_CACHE_KEY, [str(g) for g in gaps])
    try:
        body = client.get("/readyz").json()
        assert body["status"] == "ok"
        assert any("2033-01-01" in line for line in body["warnings"]["partitions"])
    finally:
        cache.delete(partitions.GAPS_CACHE_KEY)
    assert "warnings" not in client.get("/readyz").json()


def _trace_with_score(project, at: datetime) -> Trace:
    tid = new_trace_id()
    spans_ingest(project=project, spans=[span(tid, start_ms=0, duration_ms=5, at=at, is_root=True)])
    trace = Trace.objects.get(project=project, trace_id=tid)
    scores_upsert(project=project, items=[ScoreInput(trace_pk=trace.pk, name="ok", source="external", value=1.0)])
    return trace


@pytest.mark.django_db(transaction=True)
def test_retention_drops_whole_partitions_every_project_allows_and_deletes_the_rest():
    now = datetime(2031, 8, 20, 15, 0, tzinfo=UTC)
    keeps_long = project_create(name="long")  # defaults: traces 30 days, scores 90
    keeps_short = project_create(name="short")
    keeps_short.retention_traces_days = 5
    keeps_short.save()
    old_day = now - timedelta(days=40)  # past both projects' trace retention
    mid_day = now - timedelta(days=10)  # past the short project's only
    for day in (old_day, mid_day):
        partitions.partition_create("traces_trace", day.date())
        partitions.partition_create("traces_span", day.date())
        partitions.partition_create("scores_score", day.date())
    old_long, old_short = _trace_with_score(keeps_long, old_day), _trace_with_score(keeps_short, old_day)
    mid_long, mid_short = _trace_with_score(keeps_long, mid_day), _trace_with_score(keeps_short, mid_day)
    new_short = _trace_with_score(keeps_short, now - timedelta(days=1))

    expired = traces_expire(now=now)

    old_names = {partitions.partition_name(t, old_day.date()) for t in ("traces_trace", "traces_span")}
    assert set(expired["traces_trace"].dropped) | set(expired["traces_span"].dropped) >= old_names
    assert expired["traces_trace"].deleted == 1 and expired["traces_span"].deleted == 1  # mid_short, by DELETE
    remaining = set(Trace.objects.values_list("id", flat=True))
    assert {old_long.id, old_short.id, mid_short.id} & remaining == set()
    assert {mid_long.id, new_short.id} <= remaining
    assert Span.objects.filter(trace_id__in=[mid_short.id, old_long.id]).count() == 0
    # Scores keep 90 days by default: none of them expired yet, though their traces did.
    old_scores = partitions.partition_name("scores_score", old_day.date())
    assert old_scores not in scores_expire(now=now)["scores_score"].dropped
    assert Score.objects.count() == 5
    keeps_long.retention_scores_days = 20
    keeps_long.save()
    result = scores_expire(now=now)["scores_score"]
    assert old_scores not in result.dropped and result.deleted == 1  # old_long's score; the short project keeps 90
    assert not Score.objects.filter(trace_id=old_long.id).exists()
