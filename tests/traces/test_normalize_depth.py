"""Nesting too deep to walk (issue 16.3): the span is kept, only the too-deep parsed form is refused."""

from __future__ import annotations

import json
from dataclasses import asdict

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from apps.traces.normalize import WARNINGS_ATTR, normalize_log_record, normalize_span
from apps.traces.otlp import RawSpan
from tests.traces.test_normalize import PARENT_ID, SPAN_ID, T0, TRACE_ID, dumps, make_log, make_span

DEEP = 2_000


def deep_json(depth: int = DEEP) -> str:
    """A valid JSON array nested depth deep."""
    return "[" * depth + "]" * depth


def deep_messages() -> str:
    """gen_ai.input.messages whose one text part holds JSON nested DEEP levels."""
    return '[{"role":"user","parts":[{"type":"text","content":' + deep_json() + "}]}]"


def assert_storable(n: object) -> None:
    """What the bulk writer and the API do with a span must not hit the recursion limit."""
    data = asdict(n)
    orjson.dumps(data, default=str)
    json.dumps(data, default=str)


def test_deep_json_in_input_messages_keeps_the_span_and_the_raw_string() -> None:
    raw = deep_messages()
    n = normalize_span(make_span({"gen_ai.operation.name": "chat", "gen_ai.input.messages": raw}))
    assert n.kind == "llm"
    assert n.input_messages == []
    assert n.raw_input == raw
    assert n.attributes[WARNINGS_ATTR] == ["json_too_deep:gen_ai.input.messages"]
    assert_storable(n)


def test_deep_json_in_output_messages_tool_definitions_and_documents() -> None:
    n = normalize_span(
        make_span(
            {
                "gen_ai.output.messages": deep_json(),
                "gen_ai.tool.definitions": deep_json(),
                "gen_ai.retrieval.documents": deep_json(),
                "gen_ai.request.model": "gpt-4o",
            }
        )
    )
    assert n.model == "gpt-4o"  # the rest of the span is normalized as usual
    assert (n.output_messages, n.tool_definitions, n.documents) == ([], [], [])
    assert n.raw_output == deep_json()
    assert n.attributes["gen_ai.tool.definitions"] == deep_json()  # kept unparsed
    assert n.attributes["gen_ai.retrieval.documents"] == deep_json()
    assert set(n.attributes[WARNINGS_ATTR]) == {
        "json_too_deep:gen_ai.output.messages",
        "json_too_deep:gen_ai.tool.definitions",
        "json_too_deep:gen_ai.retrieval.documents",
    }
    assert_storable(n)


def test_deep_json_in_langfuse_and_openinference_strings() -> None:
    n = normalize_span(
        make_span(
            {
                "langfuse.observation.type": "generation",
                "langfuse.observation.input": deep_json(),
                "langfuse.observation.usage_details": "{" + '"a":' * DEEP + "1" + "}" * DEEP,
                "openinference.span.kind": "TOOL",
                "tool.parameters": deep_json(),
                "metadata": deep_json(),
            }
        )
    )
    assert n.raw_input == deep_json()
    assert n.attributes["metadata"] == deep_json()
    assert "json_too_deep:langfuse.observation.input" in n.attributes[WARNINGS_ATTR]
    assert_storable(n)


def test_tool_call_arguments_nested_deep_stay_text() -> None:
    n = normalize_span(
        make_span(
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "f",
                "gen_ai.tool.call.arguments": deep_json(),
            }
        )
    )
    assert n.tool_calls[0]["arguments"] == deep_json()
    assert_storable(n)


def test_moderately_nested_json_still_parses() -> None:
    nested: object = "leaf"
    for _ in range(40):
        nested = {"k": nested}
    raw = dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}], "extra": nested}])
    n = normalize_span(make_span({"gen_ai.input.messages": raw}))
    assert n.input_messages[0]["extra"] == nested
    assert WARNINGS_ATTR not in n.attributes


def deep_any_value_span(depth: int = DEEP) -> RawSpan:
    """A span whose attribute app.deep is an AnyValue of arrays and kvlists nested depth deep."""
    span = Span(trace_id=TRACE_ID, span_id=SPAN_ID, parent_span_id=PARENT_ID, name="deep")
    span.start_time_unix_nano, span.end_time_unix_nano = T0, T0 + 1000
    kv = span.attributes.add(key="app.deep")
    cur: AnyValue = kv.value
    for i in range(depth):
        if i % 2:
            cur = cur.array_value.values.add()
        else:
            cur = cur.kvlist_value.values.add(key="k").value
    cur.string_value = "leaf"
    span.attributes.add(key="gen_ai.request.model").value.string_value = "gpt-4o"
    ev = span.events.add(name="note", time_unix_nano=T0)
    ev.attributes.add(key="ev.deep").value.CopyFrom(kv.value)
    return RawSpan({}, "scope", "1", span)


def test_deeply_nested_any_values_are_cut_and_flagged() -> None:
    n = normalize_span(deep_any_value_span())
    assert n.model == "gpt-4o"
    value, depth = n.attributes["app.deep"], 0
    while isinstance(value, dict | list):
        value = value["k"] if isinstance(value, dict) else value[0]
        depth += 1
    assert value is None and depth == 64
    assert set(n.attributes[WARNINGS_ATTR]) == {"nested_too_deep:app.deep", "nested_too_deep:events.0.ev.deep"}
    assert_storable(n)


def test_a_flattened_key_with_thousands_of_segments_stays_a_plain_attribute() -> None:
    key = "llm.input_messages.0.message." + ".".join(["a"] * DEEP)
    n = normalize_span(make_span({key: "x", "llm.input_messages.0.message.content": "hi"}))
    assert n.input_messages[0]["parts"] == [{"type": "text", "content": "hi"}]
    assert n.attributes[key] == "x"
    assert_storable(n)


def test_deep_json_in_a_log_record_is_left_unparsed() -> None:
    content = normalize_log_record(
        make_log("gen_ai.client.inference.operation.details", attrs={"gen_ai.input.messages": deep_messages()})
    )
    assert content.input_messages == []
