"""Normalization of one OTLP span per emitter family (OTel GenAI, OpenLLMetry, OpenInference, Langfuse).

The span builders at the top are also used by test_otlp_logs.py.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from apps.traces.normalize import NormalizedSpan, SpanRejected, normalize_span
from apps.traces.otlp import RawLogRecord, RawSpan

TRACE_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN_ID = bytes.fromhex("b7ad6b7169203331")
PARENT_ID = bytes.fromhex("00f067aa0ba902b7")
T0 = 1_700_000_000_000_000_000


def any_value(value: Any) -> AnyValue:
    """Encode a Python value as an OTLP AnyValue."""
    v = AnyValue()
    if isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, float):
        v.double_value = value
    elif isinstance(value, str):
        v.string_value = value
    elif isinstance(value, bytes):
        v.bytes_value = value
    elif isinstance(value, list | tuple):
        v.array_value.values.extend(any_value(x) for x in value)
    elif isinstance(value, dict):
        v.kvlist_value.values.extend(KeyValue(key=k, value=any_value(x)) for k, x in value.items())
    elif value is None:
        pass
    else:
        raise TypeError(type(value))
    return v


def kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    """Encode a dict as repeated KeyValue."""
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()]


def make_span(
    attrs: dict[str, Any] | None = None,
    *,
    name: str = "span",
    parent: bytes = PARENT_ID,
    start: int = T0,
    end: int = T0 + 1_250_000_000,
    events: list[tuple[str, dict[str, Any]]] | None = None,
    status: tuple[int, str] = (0, ""),
    resource: dict[str, Any] | None = None,
    scope: tuple[str, str] = ("test-scope", "1.0"),
    trace_id: bytes = TRACE_ID,
    span_id: bytes = SPAN_ID,
    dropped: int = 0,
) -> RawSpan:
    """Build a RawSpan around a pb2 Span with the given attributes and events."""
    span = Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        kind=Span.SPAN_KIND_CLIENT,
        status=Status(code=status[0], message=status[1]),
        dropped_attributes_count=dropped,
    )
    span.attributes.extend(kvs(attrs or {}))
    for i, (ev_name, ev_attrs) in enumerate(events or []):
        ev = span.events.add(name=ev_name, time_unix_nano=start + i * 1000)
        ev.attributes.extend(kvs(ev_attrs))
    return RawSpan(resource or {}, scope[0], scope[1], span)


def make_log(
    event_name: str = "",
    *,
    attrs: dict[str, Any] | None = None,
    body: Any = None,
    trace_id: bytes = TRACE_ID,
    span_id: bytes = SPAN_ID,
    time: int = T0,
) -> RawLogRecord:
    """Build a RawLogRecord around a pb2 LogRecord."""
    record = LogRecord(time_unix_nano=time, trace_id=trace_id, span_id=span_id, event_name=event_name)
    record.attributes.extend(kvs(attrs or {}))
    if body is not None:
        record.body.CopyFrom(any_value(body))
    return RawLogRecord({}, "scope", "", record)


def dumps(value: Any) -> str:
    """Compact JSON like the Python util-genai emitter."""
    return json.dumps(value, separators=(",", ":"))


def as_json(span: NormalizedSpan) -> str:
    """Serialize like a JSONField would (datetimes aside); fails on NaN."""
    from dataclasses import asdict

    return json.dumps(asdict(span), default=str, allow_nan=False)


# -- OTel GenAI (latest experimental: JSON-string content on the span) ----------------------------

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def otel_latest_span(**extra: Any) -> RawSpan:
    """An openai chat span as util-genai / genai-openai emit it in latest-experimental mode."""
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.temperature": 0.7,
        "gen_ai.request.max_tokens": 512,
        "gen_ai.request.stop_sequences": ["\n\n"],
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": "chatcmpl-9J3uIL87gldCFtiIbyaOvTeYBRA3l",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 85,
        "gen_ai.usage.cache_read.input_tokens": 1024,
        "gen_ai.usage.reasoning.output_tokens": 20,
        "gen_ai.conversation.id": "conv_5j66UpCpwteGg4YSxUnt7lPY",
        "gen_ai.system_instructions": dumps([{"type": "text", "content": "You are a helpful weather bot."}]),
        "gen_ai.input.messages": dumps(
            [
                {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
                {
                    "role": "assistant",
                    "parts": [
                        {
                            "type": "tool_call",
                            "id": "call_VSPygqKTWdrhaFErNvMV18Yl",
                            "name": "get_weather",
                            "arguments": {"city": "Paris"},
                        }
                    ],
                },
                {
                    "role": "tool",
                    "parts": [
                        {"type": "tool_call_response", "id": "call_VSPygqKTWdrhaFErNvMV18Yl", "result": "rainy, 57°F"}
                    ],
                },
                {"role": "user", "parts": [{"type": "text", "content": "And should I take an umbrella?"}]},
            ]
        ),
        "gen_ai.output.messages": dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": "Yes, it is rainy in Paris (57°F)."}],
                    "finish_reason": "stop",
                },
            ]
        ),
        "gen_ai.tool.definitions": dumps([WEATHER_TOOL]),
        "server.address": "api.openai.com",
        "server.port": 443,
        "sightline.route": "/chat",
        "sightline.prompt.version": "v7",
        "user.id": "user-42",
    }
    attrs.update(extra)
    return make_span(
        attrs,
        name="chat gpt-4o-mini",
        resource={"service.name": "weather", "service.version": "2.3.0", "deployment.environment.name": "production"},
        scope=("opentelemetry.instrumentation.genai.openai", "1.0b0"),
    )


def test_otel_latest_llm_span() -> None:
    n = normalize_span(otel_latest_span())
    assert (n.trace_id, n.span_id, n.parent_span_id) == (TRACE_ID.hex(), SPAN_ID.hex(), PARENT_ID.hex())
    assert n.is_root is False
    assert (n.kind, n.operation, n.name) == ("llm", "chat", "chat gpt-4o-mini")
    assert n.model == "gpt-4o-mini-2024-07-18"
    assert (n.model_requested, n.model_responded) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert n.provider == "openai"
    # system instructions are prepended as a system message
    assert n.system_instructions == "You are a helpful weather bot."
    assert [m["role"] for m in n.input_messages] == ["system", "user", "assistant", "tool", "user"]
    tool_response = n.input_messages[3]["parts"][0]
    assert tool_response["response"] == "rainy, 57°F"  # `result` (registry example) accepted as `response`
    assert n.input_messages[2]["parts"][0]["arguments"] == {"city": "Paris"}
    assert n.output_messages == [
        {
            "role": "assistant",
            "finish_reason": "stop",
            "parts": [{"type": "text", "content": "Yes, it is rainy in Paris (57°F)."}],
        }
    ]
    assert n.input_text == "And should I take an umbrella?"
    assert n.output_text == "Yes, it is rainy in Paris (57°F)."
    assert n.finish_reasons == ["stop"]
    assert n.tool_definitions == [WEATHER_TOOL]
    assert n.tool_calls == []
    assert (n.input_tokens, n.output_tokens, n.total_tokens) == (1200, 85, 1285)
    assert (n.cache_read_tokens, n.cache_write_tokens, n.reasoning_tokens) == (1024, None, 20)
    assert (n.cost_input, n.cost_output, n.cost_total, n.cost_source) == (None, None, None, "")
    assert n.request_params == {"temperature": 0.7, "max_tokens": 512, "stop_sequences": ["\n\n"]}
    assert (n.route, n.prompt_version, n.environment, n.release) == ("/chat", "v7", "production", "2.3.0")
    assert (n.user_id, n.session_id) == ("user-42", "conv_5j66UpCpwteGg4YSxUnt7lPY")
    assert n.attributes == {
        "gen_ai.response.id": "chatcmpl-9J3uIL87gldCFtiIbyaOvTeYBRA3l",
        "server.address": "api.openai.com",
        "server.port": 443,
    }
    assert n.scope == {"name": "opentelemetry.instrumentation.genai.openai", "version": "1.0b0"}
    assert n.resource["service.name"] == "weather"
    assert n.started_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert n.latency_ms == 1250.0
    assert n.status == "unset" and n.truncated == []
    as_json(n)


def test_otel_latest_tool_call_output_and_openai_finish_reason() -> None:
    out = [
        {
            "role": "assistant",
            "finish_reason": "tool_calls",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": '{"city": "Lyon"}'}],
        }
    ]
    n = normalize_span(
        otel_latest_span(
            **{
                "gen_ai.output.messages": dumps(out),
                "gen_ai.response.finish_reasons": ["tool_calls"],
            }
        )
    )
    assert n.finish_reasons == ["tool_call"]
    assert n.output_messages[0]["finish_reason"] == "tool_call"
    assert n.tool_calls == [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Lyon"}}]
    assert n.output_text == 'get_weather({"city":"Lyon"})'


def test_structured_anyvalue_content_is_accepted() -> None:
    # Non-Python SDKs may send content as kvlist/array AnyValues instead of JSON strings.
    n = normalize_span(
        make_span(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}],
                "gen_ai.output.messages": [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}],
                "gen_ai.system_instructions": [{"type": "text", "content": "be brief"}],
                "gen_ai.response.finish_reasons": "stop",
            }
        )
    )
    assert n.input_messages[0] == {"role": "system", "parts": [{"type": "text", "content": "be brief"}]}
    assert (n.input_text, n.output_text, n.finish_reasons) == ("hi", "hello", ["stop"])


def test_system_instructions_not_duplicated_when_input_has_system() -> None:
    n = normalize_span(
        otel_latest_span(
            **{
                "gen_ai.input.messages": dumps(
                    [
                        {"role": "system", "parts": [{"type": "text", "content": "sys"}]},
                        {"role": "user", "parts": [{"type": "text", "content": "q"}]},
                    ]
                )
            }
        )
    )
    assert [m["role"] for m in n.input_messages] == ["system", "user"]
    assert n.system_instructions == "You are a helpful weather bot."


def test_otel_details_span_event_carries_content() -> None:
    n = normalize_span(
        make_span(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "anthropic",
                "gen_ai.request.model": "claude-sonnet-4",
            },
            events=[
                (
                    "gen_ai.client.inference.operation.details",
                    {
                        "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "ping"}]}],
                        "gen_ai.output.messages": [
                            {
                                "role": "assistant",
                                "parts": [{"type": "text", "content": "pong"}],
                                "finish_reason": "end_turn",
                            }
                        ],
                        "gen_ai.system_instructions": [{"type": "text", "content": "echo"}],
                    },
                )
            ],
        )
    )
    assert [m["role"] for m in n.input_messages] == ["system", "user"]
    assert n.output_text == "pong" and n.finish_reasons == ["stop"]
    assert n.events == [
        {"name": "gen_ai.client.inference.operation.details", "time": "2023-11-14T22:13:20+00:00", "attributes": {}}
    ]


def test_span_attributes_win_over_details_event() -> None:
    n = normalize_span(
        make_span(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.input.messages": dumps([{"role": "user", "parts": [{"type": "text", "content": "attr"}]}]),
            },
            events=[
                (
                    "gen_ai.client.inference.operation.details",
                    {
                        "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "event"}]}],
                        "gen_ai.output.messages": [
                            {"role": "assistant", "parts": [{"type": "text", "content": "out"}]}
                        ],
                    },
                )
            ],
        )
    )
    assert n.input_text == "attr"
    assert n.output_text == "out"  # each side resolves independently


# -- OTel legacy (gen_ai.system, prompt_tokens, per-message span events) --------------------------


def test_otel_legacy_span_with_message_events() -> None:
    n = normalize_span(
        make_span(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "az.ai.openai",
                "gen_ai.request.model": "gpt-35-turbo",
                "gen_ai.openai.request.seed": 42,
                "gen_ai.openai.api_base": "https://contoso.openai.azure.com",
                "gen_ai.usage.prompt_tokens": "30",
                "gen_ai.usage.completion_tokens": 12,
            },
            name="chat gpt-35-turbo",
            events=[
                ("gen_ai.system.message", {"gen_ai.system": "az.ai.openai", "content": "You are terse."}),
                ("gen_ai.user.message", {"gen_ai.system": "az.ai.openai", "content": "What is OTel?"}),
                (
                    "gen_ai.assistant.message",
                    {
                        "tool_calls": dumps(
                            [
                                {
                                    "id": "c1",
                                    "type": "function",
                                    "function": {"name": "search", "arguments": '{"q":"otel"}'},
                                }
                            ]
                        )
                    },
                ),
                ("gen_ai.tool.message", {"content": "OpenTelemetry is ...", "id": "c1"}),
                (
                    "gen_ai.choice",
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": dumps({"role": "assistant", "content": "An observability framework."}),
                    },
                ),
                ("exception", {"exception.type": "ValueError", "exception.message": "late"}),
            ],
        )
    )
    assert n.kind == "llm" and n.provider == "azure.ai.openai"
    assert (n.input_tokens, n.output_tokens, n.total_tokens) == (30, 12, 42)
    assert n.request_params == {"seed": 42}
    assert [m["role"] for m in n.input_messages] == ["system", "user", "assistant", "tool"]
    assert n.input_messages[2]["parts"] == [
        {"type": "tool_call", "id": "c1", "name": "search", "arguments": {"q": "otel"}}
    ]
    assert n.input_messages[3]["parts"] == [
        {"type": "tool_call_response", "id": "c1", "response": "OpenTelemetry is ..."}
    ]
    assert n.system_instructions == "You are terse."
    assert n.input_text == "What is OTel?"
    assert n.output_messages == [
        {
            "role": "assistant",
            "finish_reason": "stop",
            "parts": [{"type": "text", "content": "An observability framework."}],
        }
    ]
    assert n.finish_reasons == ["stop"]
    assert n.error_type == "ValueError" and n.error_message == "late"
    # message events are kept as content-free markers; the exception event is kept whole
    assert [e["name"] for e in n.events][-1] == "exception"
    assert all("content" not in e["attributes"] for e in n.events)
    assert n.attributes == {"gen_ai.openai.api_base": "https://contoso.openai.azure.com"}


def test_otel_semconv_126_prompt_and_completion_events() -> None:
    n = normalize_span(
        make_span(
            {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4"},
            events=[
                ("gen_ai.content.prompt", {"gen_ai.prompt": dumps([{"role": "user", "content": "hi"}])}),
                ("gen_ai.content.completion", {"gen_ai.completion": dumps([{"role": "assistant", "content": "yo"}])}),
            ],
        )
    )
    assert (n.kind, n.input_text, n.output_text) == ("llm", "hi", "yo")


def test_error_status_and_error_type() -> None:
    n = normalize_span(
        make_span(
            {"gen_ai.operation.name": "chat", "error.type": "RateLimitError"},
            status=(2, "Error code: 429"),
            events=[
                (
                    "exception",
                    {
                        "exception.type": "openai.RateLimitError",
                        "exception.message": "429",
                        "exception.stacktrace": "Traceback...",
                    },
                )
            ],
        )
    )
    assert (n.status, n.error_type, n.error_message) == ("error", "RateLimitError", "Error code: 429")
    assert n.events[0]["attributes"]["exception.stacktrace"] == "Traceback..."
    assert normalize_span(make_span(status=(1, ""))).status == "ok"


# -- OpenLLMetry <=0.54 (indexed gen_ai.prompt.{i}.*) ----------------------------------------------


def openllmetry_054_span() -> RawSpan:
    """An Azure OpenAI chat span from opentelemetry-instrumentation-openai 0.54 under traceloop-sdk."""
    return make_span(
        {
            "llm.request.type": "chat",
            "gen_ai.system": "Azure",
            "gen_ai.request.model": "gpt-4",
            "gen_ai.response.model": "gpt-4-0613",
            "llm.is_streaming": False,
            "gen_ai.request.temperature": 0.5,
            "llm.headers": "None",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "You classify images.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": dumps(
                [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/cat.png"}},
                ]
            ),
            "gen_ai.prompt.2.role": "assistant",
            "gen_ai.prompt.2.tool_calls.0.id": "call_a",
            "gen_ai.prompt.2.tool_calls.0.name": "lookup",
            "gen_ai.prompt.2.tool_calls.0.arguments": '{"id": 7}',
            "gen_ai.prompt.3.role": "tool",
            "gen_ai.prompt.3.content": "a cat",
            "gen_ai.prompt.3.tool_call_id": "call_a",
            "gen_ai.prompt.prompt_filter_results": dumps([{"prompt_index": 0, "content_filter_results": {}}]),
            "gen_ai.prompt.name": "mcp-prompt",  # MCP attribute, not a message
            "gen_ai.completion.0.finish_reason": "tool_calls",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.tool_calls.0.id": "call_b",
            "gen_ai.completion.0.tool_calls.0.name": "classify",
            "gen_ai.completion.0.tool_calls.0.arguments": '{"label": "cat"}',
            "gen_ai.completion.0.content_filter_results": dumps({"hate": {"filtered": False}}),
            "llm.request.functions.0.name": "classify",
            "llm.request.functions.0.description": "Classify",
            "llm.request.functions.0.parameters": dumps({"type": "object"}),
            "llm.usage.total_tokens": 100,
            "gen_ai.usage.input_tokens": 80,
            "gen_ai.usage.output_tokens": 20,
            "gen_ai.usage.cache_read_input_tokens": 10,
            "gen_ai.usage.cache_creation_input_tokens": 5,
            "traceloop.workflow.name": "image-triage",
            "traceloop.association.properties.user_id": "u-9",
            "traceloop.association.properties.session_id": "s-9",
            "traceloop.association.properties.tenant": "acme",
            "traceloop.prompt.key": "classifier",
            "traceloop.prompt.version": 3,
        },
        name="openai.chat",
        scope=("opentelemetry.instrumentation.openai.v1", "0.54.0"),
    )


def test_openllmetry_054_indexed_attributes() -> None:
    n = normalize_span(openllmetry_054_span())
    assert (n.kind, n.operation, n.provider, n.model) == ("llm", "chat", "azure.ai.openai", "gpt-4-0613")
    assert [m["role"] for m in n.input_messages] == ["system", "user", "assistant", "tool"]
    assert n.input_messages[1]["parts"] == [
        {"type": "text", "content": "What is this?"},
        {"type": "uri", "modality": "image", "uri": "https://x.test/cat.png"},
    ]
    assert n.input_messages[2]["parts"] == [
        {"type": "tool_call", "id": "call_a", "name": "lookup", "arguments": {"id": 7}}
    ]
    assert n.input_messages[3]["parts"] == [{"type": "tool_call_response", "id": "call_a", "response": "a cat"}]
    assert n.input_text == "What is this?"
    out = n.output_messages[0]
    assert out["finish_reason"] == "tool_call"
    assert out["content_filter_results"] == {"hate": {"filtered": False}}
    assert n.tool_calls == [{"id": "call_b", "name": "classify", "arguments": {"label": "cat"}}]
    assert n.finish_reasons == ["tool_call"]
    assert n.tool_definitions == [
        {"type": "function", "name": "classify", "description": "Classify", "parameters": {"type": "object"}}
    ]
    assert (n.input_tokens, n.output_tokens, n.total_tokens) == (80, 20, 100)
    assert (n.cache_read_tokens, n.cache_write_tokens) == (10, 5)
    assert (n.route, n.user_id, n.session_id) == ("image-triage", "u-9", "s-9")
    assert (n.prompt_name, n.prompt_version) == ("classifier", "3")
    assert n.request_params == {"temperature": 0.5, "stream": False}
    # collisions: prompt_filter_results and MCP's gen_ai.prompt.name are not messages
    assert n.attributes["gen_ai.prompt.prompt_filter_results"].startswith("[{")
    assert n.attributes["gen_ai.prompt.name"] == "mcp-prompt"
    assert n.attributes["traceloop.association.properties.tenant"] == "acme"
    assert not any(
        k.startswith(("gen_ai.prompt.0", "gen_ai.completion.", "llm.request.functions")) for k in n.attributes
    )


def test_flattened_slot_cap_and_gaps() -> None:
    n = normalize_span(
        make_span(
            {
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": "first",
                "gen_ai.prompt.5.role": "user",
                "gen_ai.prompt.5.content": "after a gap",
                "gen_ai.prompt.99999999.content": "sparse-array bomb",
                "gen_ai.request.model": "m",
            }
        )
    )
    assert [m["parts"][0]["content"] for m in n.input_messages] == ["first", "after a gap"]
    assert n.attributes == {"gen_ai.prompt.99999999.content": "sparse-array bomb"}


# -- OpenLLMetry >=0.55 and traceloop-sdk decorator spans --------------------------------------------


def test_openllmetry_055_json_attributes() -> None:
    n = normalize_span(
        make_span(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4.1",
                "gen_ai.input.messages": dumps(
                    [
                        {"role": "developer", "parts": [{"type": "text", "content": "Only JSON."}]},
                        {"role": "user", "parts": [{"type": "text", "content": "List 2 colors"}]},
                    ]
                ),
                "gen_ai.output.messages": dumps(
                    [
                        {
                            "role": "assistant",
                            "parts": [{"type": "refusal", "content": "I can't."}],
                            "finish_reason": "stop",
                            "content_filter_results": {"violence": {"filtered": False}},
                        },
                    ]
                ),
                "gen_ai.usage.input_tokens": 20,
                "gen_ai.usage.output_tokens": 4,
                "gen_ai.usage.total_tokens": 24,
                "gen_ai.prompt.prompt_filter_results": dumps([{"prompt_index": 0}]),
                "gen_ai.is_streaming": True,
                "gen_ai.user": "end-user-1",
                "gen_ai.agent.name": "color-agent",
                "traceloop.workflow.name": "colors",
            },
            name="openai.chat",
        )
    )
    assert n.kind == "llm"
    assert n.input_messages[0]["role"] == "developer"
    assert n.system_instructions == "Only JSON."
    assert n.output_messages[0]["parts"] == [{"type": "refusal", "content": "I can't."}]
    assert n.output_messages[0]["content_filter_results"] == {"violence": {"filtered": False}}
    assert n.total_tokens == 24 and n.user_id == "end-user-1" and n.route == "colors"
    assert n.request_params == {"stream": True}
    assert set(n.attributes) == {"gen_ai.prompt.prompt_filter_results", "gen_ai.agent.name"}


def test_traceloop_task_and_tool_spans() -> None:
    task = normalize_span(
        make_span(
            {
                "traceloop.span.kind": "task",
                "traceloop.entity.name": "summarize",
                "traceloop.entity.input": dumps({"args": ["long text"], "kwargs": {}}),
                "traceloop.entity.output": dumps("short"),
                "traceloop.workflow.name": "digest",
            },
            name="summarize.task",
        )
    )
    assert (task.kind, task.route) == ("chain", "digest")
    assert task.raw_input == '{"args":["long text"],"kwargs":{}}'  # raw payloads keep what arrived
    assert (task.input_text, task.output_text) == ("long text", "short")  # the texts unwrap it
    tool = normalize_span(
        make_span(
            {
                "traceloop.span.kind": "tool",
                "traceloop.entity.name": "get_weather",
                "traceloop.entity.input": dumps({"args": [], "kwargs": {"city": "Oslo"}}),
                "traceloop.entity.output": "cold",
            },
            name="get_weather.tool",
        )
    )
    assert tool.kind == "tool" and tool.name == "get_weather"
    assert tool.tool_calls == [
        {
            "id": "",
            "name": "get_weather",
            "type": "",
            "arguments": {"args": [], "kwargs": {"city": "Oslo"}},
            "result": "cold",
        }
    ]


# -- OTel tool / retrieval / agent spans ------------------------------------------------------------


def test_otel_execute_tool_span() -> None:
    n = normalize_span(
        make_span(
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_weather",
                "gen_ai.tool.call.id": "call_1",
                "gen_ai.tool.type": "function",
                "gen_ai.tool.call.arguments": '{"city":"Paris"}',
                "gen_ai.tool.call.result": '{"temp":14}',
            },
            name="execute_tool get_weather",
        )
    )
    assert (n.kind, n.name) == ("tool", "get_weather")
    assert n.tool_calls == [
        {
            "id": "call_1",
            "name": "get_weather",
            "type": "function",
            "arguments": {"city": "Paris"},
            "result": {"temp": 14},
        }
    ]
    assert (n.raw_input, n.raw_output) == ('{"city":"Paris"}', '{"temp":14}')
    assert n.input_text == '{"city":"Paris"}'
    assert n.attributes == {}


def test_otel_retrieval_span() -> None:
    n = normalize_span(
        make_span(
            {
                "gen_ai.operation.name": "retrieval",
                "gen_ai.data_source.id": "kb-main",
                "gen_ai.retrieval.query.text": "refund policy",
                "gen_ai.retrieval.documents": dumps(
                    [
                        {"id": "doc-1", "score": 0.91},
                        {"id": "doc-2", "score": 0.5, "content": "Refunds...", "lang": "en"},
                    ]
                ),
                "gen_ai.request.top_k": 2,
            },
            name="retrieval kb-main",
        )
    )
    assert n.kind == "retrieval" and n.retrieval_query == "refund policy"
    assert n.documents == [
        {"id": "doc-1", "content": "", "score": 0.91, "metadata": {}},
        {"id": "doc-2", "content": "Refunds...", "score": 0.5, "metadata": {"lang": "en"}},
    ]
    assert n.input_text == "refund policy"
    assert n.request_params == {"top_k": 2}
    assert n.attributes == {"gen_ai.data_source.id": "kb-main"}


def test_kind_fallbacks_without_operation_name() -> None:
    assert normalize_span(make_span({"gen_ai.tool.call.id": "x"})).kind == "tool"
    assert normalize_span(make_span({"gen_ai.retrieval.query.text": "q"})).kind == "retrieval"
    assert normalize_span(make_span({"gen_ai.request.model": "m"})).kind == "llm"
    assert normalize_span(make_span({"http.route": "/x"})).kind == "other"
    assert normalize_span(make_span({"gen_ai.operation.name": "invoke_agent"})).kind == "agent"
    assert normalize_span(make_span({"gen_ai.operation.name": "invoke_workflow"})).kind == "chain"
    assert normalize_span(make_span({"gen_ai.operation.name": "embeddings"})).kind == "embedding"
    assert normalize_span(make_span({"llm.request.type": "rerank"})).kind == "reranker"
    # OpenInference UNKNOWN falls through to the next rule
    assert normalize_span(make_span({"openinference.span.kind": "UNKNOWN", "gen_ai.request.model": "m"})).kind == "llm"
    # Langfuse type beats everything, OpenInference beats gen_ai.operation.name
    assert (
        normalize_span(make_span({"langfuse.observation.type": "tool", "openinference.span.kind": "LLM"})).kind
        == "tool"
    )
    assert (
        normalize_span(make_span({"openinference.span.kind": "chain", "gen_ai.operation.name": "chat"})).kind == "chain"
    )


# -- OpenInference -------------------------------------------------------------------------------------


def openinference_llm_span(**extra: Any) -> RawSpan:
    """An OpenInference openai instrumentation ChatCompletion span."""
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-2024-08-06",
        "llm.provider": "openai",
        "llm.system": "openai",
        "llm.invocation_parameters": dumps({"model": "gpt-4o", "temperature": 0.1, "tool_choice": "auto"}),
        "input.value": dumps({"messages": [{"role": "user", "content": "hi"}], "model": "gpt-4o"}),
        "input.mime_type": "application/json",
        "output.value": dumps({"id": "chatcmpl-1", "choices": []}),
        "output.mime_type": "application/json",
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "You are Arize's helper.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.contents.0.message_content.type": "text",
        "llm.input_messages.1.message.contents.0.message_content.text": "Describe this image",
        "llm.input_messages.1.message.contents.1.message_content.type": "image",
        "llm.input_messages.1.message.contents.1.message_content.image.image.url": "data:image/png;base64,iVBORw0KGgo=",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "A cat.",
        "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_x",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "tag_image",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"tag": "cat"}',
        "llm.tools.0.tool.json_schema": dumps(
            {
                "type": "function",
                "function": {"name": "tag_image", "description": "Tag", "parameters": {"type": "object"}},
            }
        ),
        "llm.token_count.prompt": 300,
        "llm.token_count.completion": 40,
        "llm.token_count.total": 340,
        "llm.token_count.prompt_details.cache_read": 256,
        "llm.token_count.prompt_details.cache_write": 0,
        "llm.token_count.completion_details.reasoning": 0,
        "llm.cost.prompt": 0.00075,
        "llm.cost.completion": 0.0004,
        "llm.cost.total": 0.00115,
        "session.id": "sess-1",
        "user.id": "user-1",
        "tag.tags": ["beta", "vision"],
        "metadata": dumps({"experiment": "A", "n": 2}),
        "llm.prompt_template.template": "Describe {thing}",
        "llm.prompt_template.version": "v2",
        "evaluations.0.evaluation.name": "hallucination",
        "evaluations.0.evaluation.score": 0.0,
        "evaluations.0.evaluation.label": "factual",
        "evaluations.0.evaluation.explanation": "grounded",
        "annotations.0.annotation.name": "thumbs",
        "annotations.0.annotation.score": 1,
    }
    attrs.update(extra)
    return make_span(
        attrs,
        name="ChatCompletion",
        scope=("openinference.instrumentation.openai", "0.1.30"),
        resource={"openinference.project.name": "vision"},
    )


def test_openinference_llm_span() -> None:
    n = normalize_span(openinference_llm_span())
    assert (n.kind, n.model, n.provider, n.operation) == ("llm", "gpt-4o-2024-08-06", "openai", "")
    assert n.model_requested == "" and n.model_responded == ""
    assert n.input_messages[0] == {"role": "system", "parts": [{"type": "text", "content": "You are Arize's helper."}]}
    assert n.input_messages[1]["parts"] == [
        {"type": "text", "content": "Describe this image"},
        {"type": "blob", "modality": "image", "content": "iVBORw0KGgo=", "mime_type": "image/png"},
    ]
    assert n.output_messages == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "A cat."},
                {"type": "tool_call", "id": "call_x", "name": "tag_image", "arguments": {"tag": "cat"}},
            ],
        }
    ]
    assert n.tool_calls == [{"id": "call_x", "name": "tag_image", "arguments": {"tag": "cat"}}]
    assert n.tool_definitions == [
        {"type": "function", "name": "tag_image", "description": "Tag", "parameters": {"type": "object"}}
    ]
    assert (n.input_tokens, n.output_tokens, n.total_tokens) == (300, 40, 340)
    assert (n.cache_read_tokens, n.cache_write_tokens, n.reasoning_tokens) == (256, 0, 0)
    assert (n.cost_input, n.cost_output, n.cost_total, n.cost_source) == (0.00075, 0.0004, 0.00115, "reported")
    assert n.request_params == {"model": "gpt-4o", "temperature": 0.1, "tool_choice": "auto"}
    assert n.raw_input.startswith('{"messages"') and n.raw_output.startswith('{"id"')
    assert (n.input_text, n.output_text) == ("Describe this image", "A cat.")
    assert (n.session_id, n.user_id, n.tags, n.prompt_version) == ("sess-1", "user-1", ["beta", "vision"], "v2")
    assert n.evaluations == [
        {"name": "hallucination", "score": 0.0, "label": "factual", "explanation": "grounded"},
        {"name": "thumbs", "score": 1.0, "label": "", "explanation": ""},
    ]
    assert n.attributes["metadata"] == {"experiment": "A", "n": 2}
    assert n.attributes["evaluations.0.evaluation.name"] == "hallucination"  # kept as well
    assert n.attributes["llm.prompt_template.template"] == "Describe {thing}"
    assert not any(
        k.startswith(("llm.input_messages", "llm.output_messages", "llm.token_count", "llm.cost."))
        for k in n.attributes
    )
    assert "input.value" not in n.attributes and "input.mime_type" not in n.attributes


@pytest.mark.parametrize(
    ("provider", "system", "expected"),
    [
        ("azure", "openai", "azure.ai.openai"),
        ("aws", "anthropic", "aws.bedrock"),
        ("google", "vertexai", "gcp.vertex_ai"),
        ("google", "gemini", "gcp.gen_ai"),
        ("", "mistralai", "mistral_ai"),
        ("xai", "xai", "x_ai"),
        ("anthropic", "anthropic", "anthropic"),
    ],
)
def test_openinference_provider_mapping(provider: str, system: str, expected: str) -> None:
    attrs = {"llm.provider": provider, "llm.system": system}
    span = openinference_llm_span(**{k: v for k, v in attrs.items() if v})
    if not provider:
        span = make_span({"openinference.span.kind": "LLM", "llm.system": system})
    assert normalize_span(span).provider == expected


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        ("az.ai.inference", "azure.ai.inference"),
        ("xai", "x_ai"),
        ("gemini", "gcp.gemini"),
        ("AWS", "aws.bedrock"),
        ("Google", "gcp.vertex_ai"),
        ("OpenRouter", "openrouter"),
        ("cohere", "cohere"),
    ],
)
def test_legacy_gen_ai_system_mapping(system: str, expected: str) -> None:
    assert normalize_span(make_span({"gen_ai.system": system})).provider == expected


def test_openinference_retriever_span() -> None:
    n = normalize_span(
        make_span(
            {
                "openinference.span.kind": "RETRIEVER",
                "input.value": "How do I reset my password?",
                "retrieval.documents.0.document.id": "kb-12",
                "retrieval.documents.0.document.content": "Go to settings...",
                "retrieval.documents.0.document.score": 0.83,
                "retrieval.documents.0.document.metadata": dumps({"source": "faq.md"}),
                "retrieval.documents.1.document.id": "kb-40",
                "retrieval.documents.1.document.content": "Passwords expire...",
                "retrieval.documents.1.document.score": "0.61",
                "session.id": "sess-1",
            },
            name="retrieve",
        )
    )
    assert n.kind == "retrieval" and n.retrieval_query == "How do I reset my password?"
    assert n.documents == [
        {"id": "kb-12", "content": "Go to settings...", "score": 0.83, "metadata": {"source": "faq.md"}},
        {"id": "kb-40", "content": "Passwords expire...", "score": 0.61, "metadata": {}},
    ]
    assert n.attributes == {"openinference.span.kind": "RETRIEVER"}


def test_openinference_reranker_span() -> None:
    n = normalize_span(
        make_span(
            {
                "openinference.span.kind": "RERANKER",
                "reranker.query": "refunds",
                "reranker.model_name": "cross-encoder/ms-marco",
                "reranker.top_k": 1,
                "reranker.input_documents.0.document.id": "a",
                "reranker.output_documents.0.document.id": "b",
                "reranker.output_documents.0.document.score": 3.2,
            }
        )
    )
    assert (n.kind, n.retrieval_query, n.model) == ("reranker", "refunds", "cross-encoder/ms-marco")
    assert [d["id"] for d in n.documents] == ["b"]


def test_openinference_tool_span() -> None:
    n = normalize_span(
        make_span(
            {
                "openinference.span.kind": "TOOL",
                "tool.name": "calculator",
                "tool.description": "Adds numbers",
                "tool.parameters": dumps({"type": "object"}),
                "tool_call.id": "call_9",
                "input.value": '{"a": 1, "b": 2}',
                "output.value": "3",
            },
            name="calculator",
        )
    )
    assert n.kind == "tool"
    assert n.tool_calls == [
        {"id": "call_9", "name": "calculator", "type": "", "arguments": {"a": 1, "b": 2}, "result": "3"}
    ]
    assert (n.input_text, n.output_text) == ('{"a": 1, "b": 2}', "3")
    assert "tool.description" in n.attributes


def test_openinference_completions_prompts() -> None:
    n = normalize_span(
        make_span(
            {
                "openinference.span.kind": "LLM",
                "llm.prompts": ["Once upon a time"],
                "llm.choices.0.completion.text": " there was a span.",
            }
        )
    )
    assert (n.input_text, n.output_text) == ("Once upon a time", " there was a span.")


# -- Langfuse -------------------------------------------------------------------------------------------


def langfuse_generation(**extra: Any) -> RawSpan:
    """A generation span from the Langfuse Python SDK v3."""
    attrs = {
        "langfuse.observation.type": "generation",
        "langfuse.observation.model.name": "claude-3-5-sonnet-20241022",
        "langfuse.observation.model.parameters": dumps({"max_tokens": 1024, "temperature": 0}),
        "langfuse.observation.input": dumps(
            [
                {"role": "system", "content": "Be precise."},
                {"role": "user", "content": [{"type": "text", "text": "Sum 2+2"}]},
            ]
        ),
        "langfuse.observation.output": dumps(
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "2+2=4"},
                    {"type": "text", "text": "4"},
                    {"type": "tool_use", "id": "tu_1", "name": "record", "input": {"v": 4}},
                ],
            }
        ),
        "langfuse.observation.usage_details": dumps(
            {"input": 100, "output": 20, "input_cached_tokens": 50, "output_reasoning_tokens": 5, "total": 175}
        ),
        "langfuse.observation.cost_details": dumps({"input": 0.001, "input_cached_tokens": 0.0001, "output": 0.002}),
        "langfuse.observation.prompt.name": "calc",
        "langfuse.observation.prompt.version": 4,
        "langfuse.observation.metadata.origin": "unit-test",
        "langfuse.observation.completion_start_time": '"2025-01-01T00:00:00.5Z"',
        "langfuse.trace.name": "math-trace",
        "langfuse.trace.tags": "alpha, beta",
        "langfuse.environment": "staging",
        "langfuse.release": "r-15",
        "langfuse.user.id": "lf-user",
        "langfuse.session.id": "lf-session",
        "langfuse.internal.as_root": True,
    }
    attrs.update(extra)
    return make_span(
        attrs,
        name="calc-generation",
        scope=("langfuse-sdk", "3.2.1"),
        resource={"deployment.environment.name": "production"},
    )


def test_langfuse_generation() -> None:
    n = normalize_span(langfuse_generation())
    assert (n.kind, n.model, n.model_requested) == ("llm", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022")
    assert n.is_root is True  # langfuse.internal.as_root despite a parent
    assert n.parent_span_id == PARENT_ID.hex()
    assert [m["role"] for m in n.input_messages] == ["system", "user"]
    assert n.input_text == "Sum 2+2" and n.system_instructions == "Be precise."
    assert n.output_messages[0]["parts"] == [
        {"type": "reasoning", "content": "2+2=4"},
        {"type": "text", "content": "4"},
        {"type": "tool_call", "id": "tu_1", "name": "record", "arguments": {"v": 4}},
    ]
    assert n.output_text == "4"
    # disjoint Langfuse buckets become OTel-inclusive counts
    assert (n.input_tokens, n.output_tokens, n.total_tokens) == (150, 25, 175)
    assert (n.cache_read_tokens, n.reasoning_tokens) == (50, 5)
    assert n.cost_input == pytest.approx(0.0011) and n.cost_output == 0.002
    assert n.cost_total == pytest.approx(0.0031) and n.cost_source == "reported"
    assert (n.prompt_name, n.prompt_version) == ("calc", "4")
    assert (n.trace_name, n.tags, n.environment, n.release) == ("math-trace", ["alpha", "beta"], "staging", "r-15")
    assert (n.user_id, n.session_id) == ("lf-user", "lf-session")
    assert n.request_params == {"max_tokens": 1024, "temperature": 0}
    assert n.attributes == {
        "langfuse.observation.type": "generation",
        "langfuse.observation.metadata.origin": "unit-test",
        "langfuse.observation.completion_start_time": '"2025-01-01T00:00:00.5Z"',
    }


def test_langfuse_span_with_free_form_input_and_error_level() -> None:
    n = normalize_span(
        make_span(
            {
                "langfuse.observation.type": "span",
                "langfuse.observation.input": dumps({"query": "find docs", "k": 3}),
                "langfuse.observation.output": "done",
                "langfuse.observation.level": "ERROR",
                "langfuse.observation.status_message": "index offline",
                "langfuse.trace.tags": dumps(["x", "y"]),
            }
        )
    )
    assert n.kind == "other" and n.input_messages == [] and n.output_messages == []
    assert (n.raw_input, n.raw_output) == ('{"query":"find docs","k":3}', "done")
    assert (n.input_text, n.output_text) == (n.raw_input, "done")
    assert (n.status, n.error_message, n.tags) == ("error", "index offline", ["x", "y"])


# -- context precedence ---------------------------------------------------------------------------------


def test_sightline_keys_win_and_resource_is_consulted() -> None:
    span = make_span(
        {
            "traceloop.workflow.name": "wf",
            "http.route": "/api/x",
            "llm.prompt_template.version": "9",
            "deployment.environment": "dev",
            "sightline.tags": "a,b",
            "tag.tags": ["b", "c"],
        },
        resource={
            "sightline.route": "/resource-route",
            "sightline.environment": "canary",
            "deployment.environment.name": "prod",
        },
    )
    n = normalize_span(span)
    assert n.route == "/resource-route" and n.environment == "canary"
    assert n.prompt_version == "9"
    assert n.tags == ["a", "b", "c"]
    # losers stay in attributes, the resource dict is never mutated
    assert n.attributes == {"traceloop.workflow.name": "wf", "http.route": "/api/x", "deployment.environment": "dev"}
    assert span.resource == {
        "sightline.route": "/resource-route",
        "sightline.environment": "canary",
        "deployment.environment.name": "prod",
    }
    n = normalize_span(
        make_span({"sightline.route": "/span", "http.route": "/h"}, resource={"sightline.route": "/res"})
    )
    assert n.route == "/span"
    n = normalize_span(make_span({"http.route": "/h"}, resource={"deployment.environment": "qa"}))
    assert (n.route, n.environment) == ("/h", "qa")


def test_user_and_session_aliases() -> None:
    n = normalize_span(make_span({"enduser.id": "e1", "langfuse.session.id": "ls"}))
    assert (n.user_id, n.session_id) == ("e1", "ls")
    n = normalize_span(make_span({"llm.user": "u", "gen_ai.conversation.id": "c"}))
    assert (n.user_id, n.session_id) == ("u", "c")


# -- timestamps, truncation, NaN, robustness ---------------------------------------------------------


def test_root_span_and_timestamp_edge_cases() -> None:
    n = normalize_span(make_span(parent=b""))
    assert n.is_root and n.parent_span_id == ""
    n = normalize_span(make_span(end=0))
    assert n.ended_at == n.started_at and n.latency_ms == 0
    n = normalize_span(make_span(start=0))
    assert n.started_at == n.ended_at == datetime(2023, 11, 14, 22, 13, 21, 250000, tzinfo=UTC)
    n = normalize_span(make_span(start=T0, end=T0 - 5_000_000))
    assert n.ended_at == n.started_at and n.latency_ms == 0
    before = datetime.now(UTC).replace(microsecond=0)
    n = normalize_span(make_span(start=0, end=0))
    assert before <= n.started_at == n.ended_at <= datetime.now(UTC)  # stamped at ingest, however slow the run
    n = normalize_span(make_span(start=T0 + 123_456, end=T0 + 1_000_123_456))
    assert n.started_at.microsecond == 123 and n.latency_ms == 1000.0


def test_parent_id_of_wrong_length_rejects() -> None:
    with pytest.raises(SpanRejected, match="parent_span_id must be empty or 8 bytes, got 4"):
        normalize_span(make_span(parent=b"\x01\x02\x03\x04"))
    with pytest.raises(SpanRejected, match="trace_id must be 16 bytes, got 24"):
        normalize_span(make_span(trace_id=bytes(range(1, 25))))


def test_long_values_are_truncated_never_rejected() -> None:
    long_text = "x" * 100
    n = normalize_span(
        make_span(
            {
                "gen_ai.operation.name": "chat",
                "big.attr": long_text,
                "input.value": long_text,
                "gen_ai.input.messages": dumps([{"role": "user", "parts": [{"type": "text", "content": "q" * 100}]}]),
                "gen_ai.output.messages": "[not json " + "y" * 100,
            },
            events=[("exception", {"exception.stacktrace": "s" * 100})],
        ),
        max_value_chars=50,
    )
    assert n.attributes["big.attr"] == "x" * 50
    assert n.raw_input == "x" * 50
    # JSON content is parsed first, then cut inside the text part: it stays valid messages
    assert n.input_messages[0]["parts"][0]["content"] == "q" * 50
    # unparseable content is kept as raw output, truncated
    assert n.output_messages == [] and n.raw_output == ("[not json " + "y" * 100)[:50]
    assert n.events[0]["attributes"]["exception.stacktrace"] == "s" * 50
    assert set(n.truncated) == {
        "big.attr",
        "input.value",
        "gen_ai.input.messages",
        "raw_output",
        "events.0.exception.stacktrace",
    }


def test_nan_and_garbage_numbers() -> None:
    n = normalize_span(
        make_span(
            {
                "gen_ai.request.model": "m",
                "gen_ai.usage.input_tokens": float("nan"),
                "gen_ai.usage.output_tokens": "NaN",
                "llm.cost.total": "Infinity",
                "score": float("inf"),
                "gen_ai.request.temperature": float("nan"),
            }
        )
    )
    assert n.input_tokens is None and n.output_tokens is None and n.total_tokens is None
    assert n.cost_total is None and n.cost_source == ""
    assert n.attributes["score"] is None
    assert n.request_params["temperature"] is None
    assert "NaN" not in as_json(n) and not any(isinstance(v, float) and math.isnan(v) for v in n.attributes.values())


def test_usage_string_values_and_total_from_parts() -> None:
    n = normalize_span(make_span({"gen_ai.usage.input_tokens": "10", "gen_ai.usage.output_tokens": 5.0}))
    assert (n.input_tokens, n.output_tokens, n.total_tokens) == (10, 5, 15)
    n = normalize_span(
        make_span(
            {
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.cache_creation.input_tokens": 3,
                "gen_ai.usage.cache_write.input_tokens": 4,
            }
        )
    )
    assert (n.total_tokens, n.cache_write_tokens) == (10, 4)  # new name wins
    assert n.attributes == {"gen_ai.usage.cache_creation.input_tokens": 3}  # conflicting alias kept


def test_malformed_content_never_raises() -> None:
    weird = [
        {"gen_ai.input.messages": "{}"},
        {"gen_ai.input.messages": "[1, 2, null]"},
        {"gen_ai.input.messages": dumps([{"role": "user", "parts": "oops"}])},
        {"gen_ai.input.messages": dumps([{"role": "user", "parts": [None, 3, {"type": "x"}]}])},
        {"gen_ai.output.messages": dumps({"role": "assistant"})},
        {"gen_ai.tool.definitions": "not json"},
        {"gen_ai.retrieval.documents": dumps([None, "plain", {"id": 3}])},
        {"llm.input_messages.0.message": "flat"},
        {"llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.role.x": "conflict"},
        {"langfuse.observation.usage_details": "[]", "langfuse.observation.cost_details": "{bad"},
        {"gen_ai.response.finish_reasons": dumps(["length", None])},
        {"metadata": "{not json"},
    ]
    for attrs in weird:
        as_json(normalize_span(make_span({"gen_ai.operation.name": "chat", **attrs})))


def test_dropped_attributes_count_and_scope() -> None:
    n = normalize_span(make_span({"a": 1}, dropped=7))
    assert n.dropped_attributes_count == 7 and n.attributes == {"a": 1}


def test_vector_db_query_result_events() -> None:
    n = normalize_span(
        make_span(
            {"db.system": "chroma", "db.operation": "query"},
            events=[
                (
                    "db.query.result",
                    {
                        "db.query.result.id": "d1",
                        "db.query.result.distance": 0.2,
                        "db.query.result.document": "text one",
                        "db.query.result.metadata": dumps({"page": 1}),
                    },
                ),
            ],
        )
    )
    assert n.documents == [{"id": "d1", "content": "text one", "score": 0.2, "metadata": {"page": 1, "distance": 0.2}}]
    assert n.events == []
