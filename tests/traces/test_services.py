"""Ingest services: idempotent storage, order-independent trace completion, batches and the sweeper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.traces.models import IngestBatch, PendingSpanContent, Span, Trace
from apps.traces.normalize import LogContent, NormalizedSpan
from apps.traces.services import ingest_batch_process, ingest_batch_sweep, span_content_attach, spans_ingest

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TRACE = "ab" * 16


def span(span_id: str, parent: str = "", **fields) -> NormalizedSpan:
    start = fields.pop("start", 0)
    duration = fields.pop("ms", 100)
    return NormalizedSpan(
        trace_id=TRACE,
        span_id=span_id,
        parent_span_id=parent,
        is_root=not parent,
        started_at=T0 + timedelta(milliseconds=start),
        ended_at=T0 + timedelta(milliseconds=start + duration),
        latency_ms=duration,
        **fields,
    )


def test_trace_fields_do_not_depend_on_arrival_order(project):
    root = span("1" * 16, name="handle", route="/chat", ms=1000, input_text="q", output_text="")
    first_llm = span(
        "2" * 16,
        "1" * 16,
        kind="llm",
        model="m-old",
        start=100,
        ms=200,
        input_tokens=10,
        output_tokens=2,
        cost_total=0.001,
        output_text="draft",
    )
    last_llm = span(
        "3" * 16,
        "1" * 16,
        kind="llm",
        model="m-final",
        provider="openai",
        start=400,
        ms=300,
        input_tokens=20,
        output_tokens=5,
        cost_total=0.002,
        output_text="final answer",
        tags=["x"],
    )
    spans_ingest(project=project, spans=[last_llm])
    spans_ingest(project=project, spans=[root, first_llm])
    trace = Trace.objects.get(project=project, trace_id=TRACE)
    assert (trace.name, trace.route, trace.model, trace.provider) == ("handle", "/chat", "m-final", "openai")
    assert (trace.input_tokens, trace.output_tokens, trace.total_tokens) == (30, 7, 37)
    assert trace.cost == pytest.approx(0.003)
    assert (trace.input_text, trace.output_text) == ("q", "final answer")
    assert trace.latency_ms == pytest.approx(1000)
    assert trace.tags == ["x"]
    assert trace.root_span_id == "1" * 16


def test_tokens_of_agent_spans_are_not_added_to_the_llm_calls_they_contain(project):
    agent = span("1" * 16, kind="agent", input_tokens=30, output_tokens=7)  # an aggregate of its children
    llm = span("2" * 16, "1" * 16, kind="llm", input_tokens=30, output_tokens=7)
    spans_ingest(project=project, spans=[agent, llm])
    assert Trace.objects.get(project=project).input_tokens == 30


def test_an_error_anywhere_marks_a_trace_without_a_root_status(project):
    spans_ingest(
        project=project, spans=[span("1" * 16), span("2" * 16, "1" * 16, status="error", error_message="boom")]
    )
    trace = Trace.objects.get(project=project)
    assert (trace.status, trace.error) == ("error", "boom")


def test_duplicates_inside_and_across_requests_are_stored_once(project):
    one = span("1" * 16, name="a")
    result = spans_ingest(project=project, spans=[one, one])
    again = spans_ingest(project=project, spans=[one])
    assert (result.accepted, result.inserted, again.inserted) == (1, 1, 0)
    assert Span.objects.filter(project=project).count() == 1


def test_log_content_arriving_before_its_span_is_merged_when_the_span_comes(project):
    content = LogContent(
        trace_id=TRACE,
        span_id="2" * 16,
        time=T0,
        input_messages=[{"role": "user", "parts": [{"type": "text", "content": "hello?"}]}],
        output_messages=[{"role": "assistant", "parts": [{"type": "text", "content": "hi!"}]}],
    )
    assert span_content_attach(project=project, content=content) is False
    assert PendingSpanContent.objects.filter(project=project).count() == 1
    spans_ingest(project=project, spans=[span("1" * 16), span("2" * 16, "1" * 16, kind="llm")])
    llm = Span.objects.get(span_id="2" * 16)
    assert llm.input_messages[0]["parts"][0]["content"] == "hello?"
    assert llm.output_text == "hi!"
    assert not PendingSpanContent.objects.exists()
    assert Trace.objects.get(project=project).output_text == "hi!"


def test_log_content_after_its_span_is_attached_directly(project):
    spans_ingest(project=project, spans=[span("1" * 16, kind="llm")])
    content = LogContent(
        trace_id=TRACE,
        span_id="1" * 16,
        time=T0,
        output_messages=[{"role": "assistant", "parts": [{"type": "text", "content": "late"}]}],
    )
    assert span_content_attach(project=project, content=content) is True
    assert Trace.objects.get(project=project).output_text == "late"


def test_a_batch_is_claimed_once(project, settings):
    settings.INGEST_BATCH_CONSUMERS = []
    result = spans_ingest(project=project, spans=[span("1" * 16)])
    assert ingest_batch_process(batch_id=result.batch_id) is True
    assert ingest_batch_process(batch_id=result.batch_id) is False
    batch = IngestBatch.objects.get(id=result.batch_id)
    assert (batch.state, batch.attempts) == (IngestBatch.State.DONE, 1)


def test_a_failing_consumer_hands_the_batch_back_for_a_retry(project, settings):
    settings.INGEST_BATCH_CONSUMERS = [
        "tests.traces.test_services.quiet_consumer",
        "tests.traces.test_services.exploding_consumer",
    ]
    result = spans_ingest(project=project, spans=[span("1" * 16)])
    with pytest.raises(RuntimeError):
        ingest_batch_process(batch_id=result.batch_id)
    assert IngestBatch.objects.get(id=result.batch_id).state == IngestBatch.State.PENDING


def quiet_consumer(**kwargs) -> None:
    return None


def exploding_consumer(**kwargs) -> None:
    raise RuntimeError("consumer failed")


def test_the_sweeper_picks_up_old_pending_and_stuck_batches_only(project, settings):
    settings.INGEST_BATCH_CONSUMERS = []
    fresh = spans_ingest(project=project, spans=[span("1" * 16)]).batch_id
    old = IngestBatch.objects.create(project=project, trace_ids=[], state=IngestBatch.State.PENDING)
    IngestBatch.objects.filter(id=old.id).update(enqueued_at=timezone.now() - timedelta(minutes=5))
    stuck = IngestBatch.objects.create(project=project, trace_ids=[], state=IngestBatch.State.RUNNING)
    IngestBatch.objects.filter(id=stuck.id).update(
        enqueued_at=timezone.now() - timedelta(hours=1), started_at=timezone.now() - timedelta(hours=1)
    )
    swept = ingest_batch_sweep()
    assert set(swept) == {old.id, stuck.id}
    assert fresh not in swept
