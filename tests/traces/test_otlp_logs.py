"""GenAI log records (/v1/logs): content events, legacy per-message events, evaluation results, and their storage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from django.db import IntegrityError, transaction
from django.urls import resolve
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

from apps.scores.models import Score
from apps.traces.models import PendingEvaluation, PendingSpanContent, Span, Trace
from apps.traces.normalize import (
    LogContent,
    LogEvaluation,
    NormalizedSpan,
    SpanRejected,
    merge_log_content,
    normalize_log_record,
    normalize_span,
)
from apps.traces.otlp import iter_log_records, parse_logs_request
from apps.traces.services import ingest_batch_process, pending_evaluations_sweep, spans_ingest, traces_ensure
from tests.traces.test_normalize import SPAN_ID, T0, TRACE_ID, dumps, make_log, make_span


def test_details_event_becomes_log_content() -> None:
    record = make_log(
        "gen_ai.client.inference.operation.details",
        attrs={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.system_instructions": [{"type": "text", "content": "Be kind."}],
            "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "Hello"}]}],
            "gen_ai.output.messages": [
                {"role": "assistant", "parts": [{"type": "text", "content": "Hi!"}], "finish_reason": "stop"}
            ],
        },
    )
    content = normalize_log_record(record)
    assert isinstance(content, LogContent)
    assert (content.trace_id, content.span_id) == (TRACE_ID.hex(), SPAN_ID.hex())
    assert content.time == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert [m["role"] for m in content.input_messages] == ["system", "user"]
    assert content.output_messages[0]["parts"][0]["content"] == "Hi!"
    assert content.system_instructions == "Be kind."
    assert content.append is False


def test_details_event_with_json_string_content_and_event_name_attribute() -> None:
    record = make_log(
        attrs={
            "event.name": "gen_ai.client.inference.operation.details",
            "gen_ai.input.messages": dumps([{"role": "user", "parts": [{"type": "text", "content": "q"}]}]),
        }
    )
    content = normalize_log_record(record)
    assert isinstance(content, LogContent) and content.input_messages[0]["parts"][0]["content"] == "q"


def test_legacy_message_events_from_openai_v2() -> None:
    system = normalize_log_record(
        make_log("gen_ai.system.message", attrs={"gen_ai.system": "openai"}, body={"content": "You are terse."})
    )
    user = normalize_log_record(
        make_log("gen_ai.user.message", attrs={"gen_ai.system": "openai"}, body={"content": "What is 2+2?"})
    )
    assistant = normalize_log_record(
        make_log(
            "gen_ai.assistant.message",
            body={
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a":2,"b":2}'}}
                ]
            },
        )
    )
    tool = normalize_log_record(make_log("gen_ai.tool.message", body={"content": "4", "id": "call_1"}))
    choice = normalize_log_record(
        make_log(
            "gen_ai.choice",
            body={"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "4"}},
        )
    )
    assert all(isinstance(c, LogContent) and c.append for c in (system, user, assistant, tool, choice))
    assert system.input_messages == [{"role": "system", "parts": [{"type": "text", "content": "You are terse."}]}]
    assert system.system_instructions == "You are terse."
    assert assistant.input_messages[0]["parts"] == [
        {"type": "tool_call", "id": "call_1", "name": "add", "arguments": {"a": 2, "b": 2}}
    ]
    assert tool.input_messages == [
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "4"}]}
    ]
    assert choice.output_messages == [
        {"role": "assistant", "finish_reason": "stop", "parts": [{"type": "text", "content": "4"}]}
    ]

    # The span (openai-v2 default mode) has no content; events merge onto it in order, duplicates skipped.
    span = normalize_span(
        make_span({"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini"})
    )
    for content in (user, system, assistant, tool, choice, user):
        merge_log_content(span, content)
    assert [m["role"] for m in span.input_messages] == ["system", "user", "assistant", "tool"]
    assert span.input_text == "What is 2+2?" and span.output_text == "4"
    assert span.system_instructions == "You are terse."
    assert span.finish_reasons == ["stop"]


def test_legacy_choice_without_content_uses_error_finish_reason() -> None:
    choice = normalize_log_record(make_log("gen_ai.choice", body={"index": 0, "finish_reason": "error", "message": {}}))
    assert choice.output_messages == [{"role": "assistant", "parts": [], "finish_reason": "error"}]


def test_merge_details_content_only_fills_empty_sides() -> None:
    span = normalize_span(
        make_span(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.input.messages": dumps([{"role": "user", "parts": [{"type": "text", "content": "own"}]}]),
            }
        )
    )
    content = LogContent(
        TRACE_ID.hex(),
        SPAN_ID.hex(),
        datetime.now(UTC),
        input_messages=[{"role": "user", "parts": [{"type": "text", "content": "from log"}]}],
        output_messages=[
            {
                "role": "assistant",
                "finish_reason": "tool_call",
                "parts": [{"type": "tool_call", "id": "c", "name": "f", "arguments": {}}],
            }
        ],
    )
    merge_log_content(span, content)
    assert span.input_text == "own"
    assert span.output_messages == content.output_messages
    assert span.tool_calls == [{"id": "c", "name": "f", "arguments": {}}]
    assert span.finish_reasons == ["tool_call"]
    merge_log_content(span, content)  # idempotent
    assert len(span.tool_calls) == 1


def test_evaluation_result_event() -> None:
    record = make_log(
        "gen_ai.evaluation.result",
        attrs={
            "gen_ai.evaluation.name": "Relevance",
            "gen_ai.evaluation.score.value": 0.85,
            "gen_ai.evaluation.score.label": "relevant",
            "gen_ai.evaluation.explanation": "Answers the question.",
            "gen_ai.response.id": "chatcmpl-1",
        },
    )
    ev = normalize_log_record(record)
    assert ev == LogEvaluation(
        TRACE_ID.hex(), SPAN_ID.hex(), "Relevance", 0.85, "relevant", "Answers the question.", "chatcmpl-1"
    )


def test_evaluation_without_span_context_needs_a_response_id() -> None:
    ev = normalize_log_record(
        make_log(
            "gen_ai.evaluation.result",
            trace_id=b"",
            span_id=b"",
            attrs={
                "gen_ai.evaluation.name": "Toxicity",
                "gen_ai.evaluation.score.value": "NaN",
                "gen_ai.response.id": "resp_1",
            },
        )
    )
    assert isinstance(ev, LogEvaluation) and ev.score is None and ev.trace_id == "" and ev.response_id == "resp_1"
    with pytest.raises(SpanRejected, match="gen_ai.response.id"):
        normalize_log_record(
            make_log(
                "gen_ai.evaluation.result", trace_id=b"", span_id=b"", attrs={"gen_ai.evaluation.name": "Toxicity"}
            )
        )


def test_log_ids_are_validated() -> None:
    with pytest.raises(SpanRejected, match="trace_id must be 16 bytes, got 3"):
        normalize_log_record(make_log("gen_ai.user.message", trace_id=b"abc", body={"content": "x"}))
    with pytest.raises(SpanRejected, match="span_id is all zeros"):
        normalize_log_record(make_log("gen_ai.client.inference.operation.details", span_id=bytes(8)))
    with pytest.raises(SpanRejected, match="trace_id must be 16 non-zero bytes"):
        normalize_log_record(make_log("gen_ai.evaluation.result", trace_id=bytes(16)))


def test_unrelated_log_records_are_ignored() -> None:
    assert normalize_log_record(make_log("", body="GET /health 200")) is None
    assert normalize_log_record(make_log("app.startup", trace_id=b"", span_id=b"")) is None


def test_logs_from_json_body_end_to_end() -> None:
    body = json.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {"attributes": []},
                    "scopeLogs": [
                        {
                            "logRecords": [
                                {
                                    "timeUnixNano": str(T0),
                                    "eventName": "gen_ai.evaluation.result",
                                    "traceId": TRACE_ID.hex().upper(),
                                    "spanId": SPAN_ID.hex(),
                                    "attributes": [
                                        {"key": "gen_ai.evaluation.name", "value": {"stringValue": "Groundedness"}},
                                        {"key": "gen_ai.evaluation.score.value", "value": {"doubleValue": 1}},
                                    ],
                                },
                                {
                                    "eventName": "gen_ai.user.message",
                                    "traceId": "nothex",
                                    "spanId": SPAN_ID.hex(),
                                    "body": {
                                        "kvlistValue": {"values": [{"key": "content", "value": {"stringValue": "hi"}}]}
                                    },
                                },
                            ]
                        }
                    ],
                }
            ]
        }
    ).encode()
    results = []
    for raw in iter_log_records(parse_logs_request(body, "application/json")):
        try:
            results.append(normalize_log_record(raw))
        except SpanRejected as exc:
            results.append(exc.reason)
    assert results[0] == LogEvaluation(TRACE_ID.hex(), SPAN_ID.hex(), "Groundedness", 1.0, "", "", "")
    assert "traceId 'nothex' is not a hex id" in results[1]


@pytest.mark.filterwarnings("ignore:LogRecord", "ignore:LogData")
def test_logs_from_real_sdk_protobuf() -> None:
    from opentelemetry.sdk._logs import LogData, LogRecord
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import TraceFlags

    record = LogRecord(
        timestamp=T0,
        trace_id=int.from_bytes(TRACE_ID),
        span_id=int.from_bytes(SPAN_ID),
        trace_flags=TraceFlags(1),
        body={"content": "sdk hello"},
        resource=Resource.create({}),
        attributes={"event.name": "gen_ai.user.message", "gen_ai.system": "openai"},
    )
    body = encode_logs([LogData(record, InstrumentationScope("opentelemetry.instrumentation.openai_v2"))])
    (raw,) = iter_log_records(parse_logs_request(body.SerializeToString(), "application/x-protobuf"))
    content = normalize_log_record(raw)
    assert isinstance(content, LogContent)
    assert content.input_messages == [{"role": "user", "parts": [{"type": "text", "content": "sdk hello"}]}]
    assert content.trace_id == TRACE_ID.hex()


# -- POST /v1/logs against the database -------------------------------------------------------------

HEX_TRACE = "ab" * 16


def _attr(key: str, value: Any) -> dict:
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, (list, dict)):
        return {"key": key, "value": {"stringValue": json.dumps(value)}}
    return {"key": key, "value": {"stringValue": str(value)}}


def log_json(event: str, attrs: dict[str, Any], *, trace_id: str = HEX_TRACE, span_id: str = "", body=None) -> dict:
    """One OTLP/JSON log record."""
    record: dict[str, Any] = {
        "timeUnixNano": str(T0),
        "eventName": event,
        "attributes": [_attr(k, v) for k, v in attrs.items()],
    }
    if trace_id:
        record["traceId"] = trace_id
    if span_id:
        record["spanId"] = span_id
    if body is not None:
        record["body"] = {"kvlistValue": {"values": [_attr(k, v) for k, v in body.items()]}}
    return record


def post_logs(client, api_key: str, records: list[dict]):
    body = json.dumps({"resourceLogs": [{"resource": {}, "scopeLogs": [{"logRecords": records}]}]})
    return client.post("/v1/logs", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_key}")


def details(span_id: str, question: str, answer: str, *, trace_id: str = HEX_TRACE) -> dict:
    return log_json(
        "gen_ai.client.inference.operation.details",
        {
            "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": question}]}],
            "gen_ai.output.messages": [
                {"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}
            ],
        },
        trace_id=trace_id,
        span_id=span_id,
    )


def llm_span(span_id: str, *, trace_id: str = HEX_TRACE, **fields) -> NormalizedSpan:
    return NormalizedSpan(
        trace_id=trace_id,
        span_id=span_id,
        kind="llm",
        started_at=datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
        ended_at=datetime(2026, 11, 27, 9, 0, 1, tzinfo=UTC),
        **fields,
    )


def test_v1_logs_is_served_by_the_traces_app():
    assert resolve("/v1/logs").func.__module__ == "apps.traces.api.otlp_logs"


@pytest.mark.django_db
def test_content_batch_uses_a_fixed_number_of_statements(client, api_key, project, monkeypatch):
    """The old path locked, updated and recomputed per record: 3+ statements each."""
    traces = [f"{i:032x}" for i in range(1, 21)]
    spans_ingest(project=project, spans=[llm_span(f"{i + 1:016x}", trace_id=t) for i, t in enumerate(traces)])
    executed: list[str] = []
    real_execute = psycopg.Cursor.execute

    def counting_execute(self, query, *args, **kwargs):
        executed.append(str(query))
        return real_execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counting_execute)
    records = [details(f"{i + 1:016x}", f"q{i}", f"a{i}", trace_id=t) for i, t in enumerate(traces)]
    assert post_logs(client, api_key, records).status_code == 200
    monkeypatch.undo()
    assert len(executed) <= 12, executed
    assert [Trace.objects.get(project=project, trace_id=t).output_text for t in traces] == [f"a{i}" for i in range(20)]


@pytest.mark.django_db
def test_content_in_one_batch_merges_like_record_by_record(client, api_key, project):
    """Legacy per-message events for one span, in one request: appended in order, duplicates skipped, and
    the finish reason and tool calls kept as when the content arrives before its span."""
    spans_ingest(project=project, spans=[llm_span("1" * 16)])
    user = log_json("gen_ai.user.message", {}, span_id="1" * 16, body={"content": "2+2?"})
    system = log_json("gen_ai.system.message", {}, span_id="1" * 16, body={"content": "Be terse."})
    choice = log_json(
        "gen_ai.choice",
        {},
        span_id="1" * 16,
        body={"index": 0.0, "finish_reason": "stop", "message": {"role": "assistant", "content": "4"}},
    )
    assert post_logs(client, api_key, [user, system, user, choice]).status_code == 200
    after = Span.objects.get(project=project, span_id="1" * 16)

    other = "cd" * 16  # the same events before the span
    early = [dict(r, traceId=other) for r in (user, system, user, choice)]
    assert post_logs(client, api_key, early).status_code == 200
    assert PendingSpanContent.objects.filter(project=project, trace_id=other).count() == 4
    spans_ingest(project=project, spans=[llm_span("1" * 16, trace_id=other)])
    before = Span.objects.get(project=project, trace__trace_id=other)

    assert [m["role"] for m in after.input_messages] == ["system", "user"]
    for name in ("input_messages", "output_messages", "system_instructions", "input_text", "output_text"):
        assert getattr(after, name) == getattr(before, name), name
    assert after.finish_reasons == before.finish_reasons == ["stop"]
    assert Trace.objects.get(project=project, trace_id=HEX_TRACE).output_text == "4"
    assert not PendingSpanContent.objects.exists()


def evaluation(response_id: str, **attrs) -> dict:
    return log_json(
        "gen_ai.evaluation.result",
        {"gen_ai.evaluation.name": "Relevance", "gen_ai.response.id": response_id, **attrs},
        trace_id="",
    )


@pytest.mark.django_db
def test_evaluation_naming_only_a_response_id_lands_on_that_span(client, api_key, project):
    spans_ingest(project=project, spans=[llm_span("2" * 16, attributes={"gen_ai.response.id": "chatcmpl-7"})])
    response = post_logs(client, api_key, [evaluation("chatcmpl-7", **{"gen_ai.evaluation.score.value": 0.5})])
    assert response.status_code == 200
    score = Score.objects.get(project=project)
    assert (score.trace.trace_id, score.span_id, score.value) == (HEX_TRACE, "2" * 16, 0.5)
    assert not Trace.objects.filter(trace_id="").exists()


@pytest.mark.django_db
def test_evaluation_before_its_response_waits_then_resolves(client, api_key, project, settings):
    settings.INGEST_BATCH_CONSUMERS = ["apps.traces.services.pending_evaluations_resolve"]
    assert (
        post_logs(client, api_key, [evaluation("resp_early", **{"gen_ai.evaluation.score.value": 1.0})]).status_code
        == 200
    )
    assert not Trace.objects.filter(project=project).exists()  # no trace row without a real id
    assert PendingEvaluation.objects.get(project=project).state == PendingEvaluation.State.PENDING

    result = spans_ingest(project=project, spans=[llm_span("3" * 16, attributes={"gen_ai.response.id": "resp_early"})])
    ingest_batch_process(batch_id=result.batch_id)
    score = Score.objects.get(project=project)
    assert (score.trace.trace_id, score.span_id, score.name, score.value) == (HEX_TRACE, "3" * 16, "Relevance", 1.0)
    assert not PendingEvaluation.objects.exists()


@pytest.mark.django_db
def test_evaluation_whose_response_never_comes_is_rejected_with_a_reason(client, api_key, project, settings):
    settings.INGEST_EVALUATION_GRACE_SECONDS = 60
    assert post_logs(client, api_key, [evaluation("resp_lost")]).status_code == 200
    received = PendingEvaluation.objects.get().received_at
    assert pending_evaluations_sweep(now=received + timedelta(seconds=30)) == (0, 0)  # still in its grace period
    assert pending_evaluations_sweep(now=received + timedelta(seconds=61)) == (0, 1)
    row = PendingEvaluation.objects.get()
    assert row.state == PendingEvaluation.State.REJECTED
    assert "resp_lost" in row.reason and "60 s" in row.reason
    # A span arriving later does not revive it, and no score or trace was made.
    spans_ingest(project=project, spans=[llm_span("4" * 16, attributes={"gen_ai.response.id": "resp_lost"})])
    assert pending_evaluations_sweep(now=received + timedelta(seconds=120)) == (0, 0)
    assert not Score.objects.exists()


@pytest.mark.django_db
def test_the_database_refuses_a_trace_without_an_id(project):
    with pytest.raises(IntegrityError), transaction.atomic():
        traces_ensure(project=project, started={"": datetime(2026, 11, 27, tzinfo=UTC)})


@pytest.mark.django_db(transaction=True)
def test_content_racing_its_span_is_not_left_waiting(project, api_key):
    """Content posted while its span's insert is still uncommitted waits for that commit, then attaches.

    Before, the content found no span (not committed yet) and was parked, while the span insert had found
    no parked content (not committed yet either): the content waited forever.
    """
    import threading

    from django.db import connection, connections
    from django.test import Client

    ingested, release = threading.Event(), threading.Event()
    done: list[int] = []

    def span_writer() -> None:
        try:
            with transaction.atomic():
                spans_ingest(project=project, spans=[llm_span("5" * 16)])
                ingested.set()
                release.wait(30)
        finally:
            connections.close_all()

    def log_writer() -> None:
        try:
            done.append(post_logs(Client(), api_key, [details("5" * 16, "q?", "a!")]).status_code)
        finally:
            connections.close_all()

    spans_thread = threading.Thread(target=span_writer)
    spans_thread.start()
    assert ingested.wait(30)
    logs_thread = threading.Thread(target=log_writer)
    logs_thread.start()
    # Let the log request run until it finishes or waits on a lock (the span transaction is still open).
    for _ in range(3000):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            if done or cursor.fetchone()[0]:
                break
        logs_thread.join(0.01)
    release.set()
    spans_thread.join(30)
    logs_thread.join(30)
    assert done == [200]
    span = Span.objects.get(project=project, span_id="5" * 16)
    assert span.output_text == "a!"
    assert not PendingSpanContent.objects.exists()


LONE_SURROGATE = "\ud800"  # valid in an OTLP JSON body ("\\ud800"), refused by PostgreSQL's jsonb


@pytest.mark.django_db
def test_a_record_the_database_refuses_costs_only_that_record(client, api_key, project):
    """Issue 16.2: a data error is a partial success naming the record, and the good records are stored."""
    spans_ingest(project=project, spans=[llm_span(f"{i:016x}") for i in (1, 2, 6)])  # 3, 4 and 5 arrive later
    records = [details(f"{i:016x}", f"q{i}", f"a{i}") for i in (1, 2, 3, 4)]
    records.insert(2, details(f"{5:016x}", f"q{LONE_SURROGATE}", "a5"))  # refused while kept waiting
    records.append(details(f"{6:016x}", f"q{LONE_SURROGATE}", "a6"))  # refused while attached to its span
    response = post_logs(client, api_key, records)
    assert response.status_code == 200, response.content
    partial = response.json()["partialSuccess"]
    assert int(partial["rejectedLogRecords"]) == 2
    assert "log record 2" in partial["errorMessage"] and "log record 5" in partial["errorMessage"]
    assert "refused" in partial["errorMessage"]
    attached = dict(Span.objects.filter(project=project).values_list("span_id", "output_text"))
    assert attached == {f"{1:016x}": "a1", f"{2:016x}": "a2", f"{6:016x}": ""}
    waiting = set(PendingSpanContent.objects.filter(project=project).values_list("span_id", flat=True))
    assert waiting == {f"{3:016x}", f"{4:016x}"}  # kept until their spans come; the refused one is not


@pytest.mark.django_db
def test_a_batch_the_database_refuses_entirely_is_400_not_503(client, api_key, project):
    response = post_logs(client, api_key, [details("1" * 16, LONE_SURROGATE, "a")])
    assert response.status_code == 400
    assert "log record 0" in response.json()["message"]
    assert not PendingSpanContent.objects.exists()


def _trace_row(trace_id: str) -> dict:
    fields = [f.name for f in Trace._meta.concrete_fields if f.name not in ("updated_at",)]
    return dict(Trace.objects.filter(trace_id=trace_id).values(*fields).get())


@pytest.mark.django_db
def test_attached_content_updates_the_trace_text_as_a_full_recompute_would(client, api_key, project):
    """Content changes only the trace's input/output text: what the narrow update writes is what a recompute of
    every derived field gives (first LLM input, last LLM output), and a trace whose root speaks for it is not
    rewritten at all."""
    from django.db import connection

    from apps.traces.services import traces_recompute

    t0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    plain, rooted = "ab" * 16, "cd" * 16

    def spans(trace_id: str, **root_fields) -> list[NormalizedSpan]:
        root = NormalizedSpan(trace_id=trace_id, span_id="f" * 16, started_at=t0, ended_at=t0 + timedelta(seconds=5))
        for name, value in root_fields.items():
            setattr(root, name, value)
        first = llm_span("1" * 16, trace_id=trace_id, parent_span_id="f" * 16, is_root=False)
        second = llm_span("2" * 16, trace_id=trace_id, parent_span_id="f" * 16, is_root=False)
        second.started_at, second.ended_at = t0 + timedelta(seconds=2), t0 + timedelta(seconds=4)
        return [root, first, second]

    spans_ingest(project=project, spans=spans(plain) + spans(rooted, input_text="root q", output_text="root a"))

    def ctid(trace_id: str) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT ctid::text FROM traces_trace WHERE trace_id = %s", [trace_id])
            return cursor.fetchone()[0]

    rooted_before = ctid(rooted)
    records = [details(s, f"q{s[0]}", f"a{s[0]}", trace_id=t) for t in (plain, rooted) for s in ("1" * 16, "2" * 16)]
    assert post_logs(client, api_key, records).status_code == 200

    assert (Trace.objects.get(trace_id=plain).input_text, Trace.objects.get(trace_id=plain).output_text) == ("q1", "a2")
    assert ctid(rooted) == rooted_before  # its text comes from the root: the row is not rewritten
    narrow = {t: _trace_row(t) for t in (plain, rooted)}
    traces_recompute(trace_pks=list(Trace.objects.filter(project=project).values_list("pk", flat=True)))
    assert {t: _trace_row(t) for t in (plain, rooted)} == narrow
    assert narrow[rooted]["input_text"] == "root q"
