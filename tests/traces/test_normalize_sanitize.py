"""Values PostgreSQL would refuse, made storable at normalisation: NUL bytes (issue 16.2)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import orjson

from apps.traces.native import native_trace_spans
from apps.traces.normalize import (
    WARNINGS_ATTR,
    NormalizedSpan,
    normalize_log_record,
    normalize_span,
    strip_nul,
    strip_nul_deep,
)
from tests.traces.test_normalize import dumps, make_log, make_span


def nul_paths(value: Any, path: str = "") -> list[str]:
    """Return where a NUL character sits in value (strings and dict keys, at any depth)."""
    if isinstance(value, str):
        return [path] if "\x00" in value else []
    if isinstance(value, dict):
        found = [f"{path}/key {k!r}" for k in value if isinstance(k, str) and "\x00" in k]
        return found + [p for k, v in value.items() for p in nul_paths(v, f"{path}/{k}")]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in nul_paths(v, f"{path}/{i}")]
    return []


def assert_no_nul(span: Any) -> None:
    """Fail when any text or JSON value of span holds a NUL, which PostgreSQL refuses in text and jsonb."""
    data = asdict(span)
    assert nul_paths(data) == []
    assert b"\\u0000" not in orjson.dumps(data, default=str).replace(b"\\\\", b"")  # what bulk.py writes


def warnings_of(span: NormalizedSpan) -> list[str]:
    return span.attributes.get(WARNINGS_ATTR, [])


def test_strip_nul_helpers() -> None:
    assert strip_nul("a\x00b") == "ab"
    clean = {"k": ["x"]}
    assert strip_nul_deep(clean) == (clean, False)
    assert strip_nul_deep(clean)[0] is clean  # nothing copied when nothing changed
    value, changed = strip_nul_deep({"k\x00": ["a\x00", {"b": "c\x00"}], "n": 1})
    assert (value, changed) == ({"k": ["a", {"b": "c"}], "n": 1}, True)


def test_nul_in_a_string_attribute_is_stripped_and_recorded() -> None:
    n = normalize_span(make_span({"gen_ai.request.model": "gpt\x00-4o", "app.note": "a\x00b"}))
    assert n.model == "gpt-4o"
    assert n.attributes["app.note"] == "ab"
    assert warnings_of(n) == ["nul_stripped:gen_ai.request.model", "nul_stripped:app.note"]
    assert_no_nul(n)


def test_escaped_nul_in_json_messages_is_stripped_from_the_parsed_messages() -> None:
    messages = [{"role": "user", "parts": [{"type": "text", "content": "hi\u0000 there"}]}]
    raw = dumps(messages)
    assert "\\u0000" in raw
    n = normalize_span(make_span({"gen_ai.operation.name": "chat", "gen_ai.input.messages": raw}))
    assert n.input_messages == [{"role": "user", "parts": [{"type": "text", "content": "hi there"}]}]
    assert n.input_text == "hi there"
    assert warnings_of(n) == ["nul_stripped:gen_ai.input.messages"]
    assert_no_nul(n)


def test_an_escaped_backslash_before_u0000_is_text_and_not_flagged() -> None:
    raw = dumps([{"role": "user", "content": "C:\\u0000dir"}])  # the text holds a backslash, not a NUL
    n = normalize_span(make_span({"gen_ai.input.messages": raw}))
    assert n.input_text == "C:\\u0000dir"
    assert WARNINGS_ATTR not in n.attributes


def test_nul_in_keys_nested_values_name_status_events_scope_and_resource() -> None:
    n = normalize_span(
        make_span(
            {"bad\x00key": "v", "app.list": ["a\x00", {"k\x00": "b\x00"}]},
            name="op\x00",
            status=(2, "boom\x00"),
            events=[("exception", {"exception.message": "x\x00y"}), ("note\x00", {"k": 1})],
            resource={"service.name": "svc\x00", "deployment.environment": "prod\x00"},
            scope=("scope\x00", "1"),
        )
    )
    assert n.name == "op"
    assert n.error_message == "boom"
    assert n.environment == "prod"
    assert n.resource["service.name"] == "svc"
    assert n.scope["name"] == "scope"
    assert n.attributes["badkey"] == "v"
    assert n.attributes["app.list"] == ["a", {"k": "b"}]
    assert [e["name"] for e in n.events] == ["exception", "note"]
    assert n.events[0]["attributes"]["exception.message"] == "xy"
    assert set(warnings_of(n)) >= {
        "nul_stripped:badkey",
        "nul_stripped:app.list",
        "nul_stripped:events.0.exception.message",
        "nul_stripped:events.1.name",
        "nul_stripped:name",
        "nul_stripped:status.message",
        "nul_stripped:scope",
        "nul_stripped:resource",
    }
    assert_no_nul(n)


def test_a_shared_resource_with_nul_is_cleaned_per_span_without_being_edited() -> None:
    resource = {"service.name": "svc\x00"}
    first = normalize_span(make_span({}, resource=resource))
    second = normalize_span(make_span({}, resource=resource))
    assert first.resource == second.resource == {"service.name": "svc"}
    assert resource == {"service.name": "svc\x00"}  # the request's dict is left as decoded


def test_clean_spans_carry_no_warnings_attribute() -> None:
    n = normalize_span(make_span({"gen_ai.request.model": "gpt-4o", "app.note": "fine"}))
    assert WARNINGS_ATTR not in n.attributes


def test_nul_in_documents_tool_calls_and_tool_definitions() -> None:
    docs = dumps([{"id": "d\u0000", "content": "text\u0000", "metadata": {"k\u0000": "v"}}])
    tools = dumps([{"type": "function", "name": "f\u0000", "parameters": {"type": "object"}}])
    out = dumps(
        [
            {
                "role": "assistant",
                "parts": [{"type": "tool_call", "id": "c1", "name": "get\u0000", "arguments": {"q": "x\u0000"}}],
            }
        ]
    )
    n = normalize_span(
        make_span({"gen_ai.retrieval.documents": docs, "gen_ai.tool.definitions": tools, "gen_ai.output.messages": out})
    )
    assert n.documents[0]["content"] == "text"
    assert n.documents[0]["metadata"] == {"k": "v"}
    assert n.tool_definitions[0]["name"] == "f"
    assert n.tool_calls[0]["name"] == "get"
    assert n.tool_calls[0]["arguments"] == {"q": "x"}
    assert_no_nul(n)


def test_native_rest_spans_are_stripped_and_flagged() -> None:
    now = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    spans = native_trace_spans(
        {
            "trace_id": "0af7651916cd43dd8448eb211c80319c",
            "name": "t\x00",
            "started_at": now,
            "input": [{"role": "user", "content": "hi\x00"}],
            "output": "ok\x00",
            "metadata": {"k\x00": "v\x00"},
            "spans": [{"span_id": "b7ad6b7169203331", "started_at": now, "documents": [{"content": "d\x00"}]}],
        }
    )
    for span in spans:
        assert_no_nul(span)
    root = spans[0]
    assert root.input_text == "hi"
    assert root.attributes["k"] == "v"
    assert "nul_stripped:input_messages" in root.attributes[WARNINGS_ATTR]
    assert spans[1].documents == [{"content": "d"}]


def test_log_content_and_evaluations_are_stripped() -> None:
    content = normalize_log_record(
        make_log(
            "gen_ai.client.inference.operation.details",
            attrs={
                "gen_ai.input.messages": dumps([{"role": "user", "parts": [{"type": "text", "content": "a\u0000"}]}])
            },
        )
    )
    assert content.input_messages[0]["parts"][0]["content"] == "a"
    evaluation = normalize_log_record(
        make_log(
            "gen_ai.evaluation.result",
            attrs={"gen_ai.evaluation.name": "rel\x00", "gen_ai.evaluation.score.label": "ok\x00"},
        )
    )
    assert (evaluation.name, evaluation.label) == ("rel", "ok")
