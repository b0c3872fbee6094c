"""GenAI log records (/v1/logs): content events, legacy per-message events, evaluation results."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

from apps.traces.normalize import (
    LogContent,
    LogEvaluation,
    SpanRejected,
    merge_log_content,
    normalize_log_record,
    normalize_span,
)
from apps.traces.otlp import iter_log_records, parse_logs_request
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
