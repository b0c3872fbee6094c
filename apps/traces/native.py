"""The native REST batch format (validated by the API's serializers) to normalized spans."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from apps.traces.normalize import NormalizedSpan, sanitize_span
from apps.traces.normalize import _canon_messages as canon_messages
from apps.traces.normalize import _input_text as messages_input_text
from apps.traces.normalize import _output_text as messages_output_text


def root_span_id_for(trace_id: str) -> str:
    """Return the deterministic span id of a trace's synthesized root (a retry yields the same id)."""
    return hashlib.sha256(f"{trace_id}:root".encode()).hexdigest()[:16]


def _latency_ms(started: datetime, ended: datetime) -> float:
    return max((ended - started).total_seconds() * 1000.0, 0.0)


def _messages_and_text(value: Any, default_role: str) -> tuple[list[dict[str, Any]], str]:
    """Accept plain text or a list of chat messages (OpenAI or OTel parts shape)."""
    if value is None or value == "":
        return [], ""
    if isinstance(value, str):
        return [{"role": default_role, "parts": [{"type": "text", "content": value}]}], value
    messages = canon_messages(value, default_role)
    text = messages_input_text(messages) if default_role == "user" else messages_output_text(messages)
    return messages, text


def _span_from(data: dict[str, Any], trace_id: str, *, is_root: bool) -> NormalizedSpan:
    """Build one span from a validated native span (or the trace itself, for a synthesized root)."""
    started: datetime = data["started_at"]
    ended: datetime = data.get("ended_at") or started
    if ended < started:
        ended = started
    input_messages, input_text = _messages_and_text(data.get("input"), "user")
    output_messages, output_text = _messages_and_text(data.get("output"), "assistant")
    usage = data.get("usage") or {}
    return NormalizedSpan(
        trace_id=trace_id,
        span_id=data["span_id"],
        parent_span_id=data.get("parent_span_id") or "",
        is_root=is_root,
        name=data.get("name") or "",
        kind=data.get("kind") or ("llm" if data.get("model") else "chain"),
        started_at=started,
        ended_at=ended,
        latency_ms=_latency_ms(started, ended),
        status=data.get("status") or "unset",
        error_message=data.get("error") or "",
        model=data.get("model") or "",
        model_responded=data.get("model") or "",
        provider=data.get("provider") or "",
        prompt_name=data.get("prompt_name") or "",
        prompt_version=data.get("prompt_version") or "",
        route=data.get("route") or "",
        environment=data.get("environment") or "",
        release=data.get("release") or "",
        user_id=data.get("user_id") or "",
        session_id=data.get("session_id") or "",
        tags=list(data.get("tags") or []),
        input_messages=input_messages,
        output_messages=output_messages,
        input_text=input_text,
        output_text=output_text,
        documents=list(data.get("documents") or []),
        retrieval_query=data.get("retrieval_query") or "",
        tool_calls=list(data.get("tool_calls") or []),
        finish_reasons=list(data.get("finish_reasons") or []),
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
        total_tokens=usage.get("total_tokens")
        if usage.get("total_tokens") is not None
        else (
            usage["input_tokens"] + usage["output_tokens"]
            if usage.get("input_tokens") is not None and usage.get("output_tokens") is not None
            else None
        ),
        cost_total=data.get("cost"),
        cost_source="reported" if data.get("cost") is not None else "",
        attributes=dict(data.get("metadata") or data.get("attributes") or {}),
        scope={"name": "sightline-rest", "version": "1"},
    )


def native_trace_spans(trace: dict[str, Any]) -> list[NormalizedSpan]:
    """Turn one validated native trace into spans: the trace is the root; parentless spans hang under it."""
    trace_id = trace["trace_id"]
    given = trace.get("spans") or []
    root_id = root_span_id_for(trace_id)
    started = trace.get("started_at") or min(s["started_at"] for s in given)
    ended = trace.get("ended_at") or max([s.get("ended_at") or s["started_at"] for s in given] or [started])
    kind = trace.get("kind") or ("llm" if trace.get("model") and not given else "chain")
    root = _span_from(
        {**trace, "span_id": root_id, "started_at": started, "ended_at": ended, "kind": kind}, trace_id, is_root=True
    )
    root.trace_name = trace.get("name") or ""
    children = [{**s, "parent_span_id": s.get("parent_span_id") or root_id} for s in given]
    spans = [root, *(_span_from(s, trace_id, is_root=False) for s in children)]
    for span in spans:
        sanitize_span(span)  # PostgreSQL refuses NUL, which JSON metadata, messages and documents may hold
    return spans


def _cap(value: Any, cap: int) -> tuple[Any, bool]:
    if isinstance(value, str) and len(value) > cap:
        return value[:cap], True
    return value, False


def native_spans_cap(spans: list[NormalizedSpan], cap: int) -> None:
    """Cut over-long values in place the way OTLP ingest does (INGEST_MAX_VALUE_CHARS), naming each in `truncated`."""
    for span in spans:
        cut = span.truncated
        for name in ("input_text", "output_text", "error_message", "retrieval_query", "system_instructions"):
            value, was_cut = _cap(getattr(span, name), cap)
            if was_cut:
                setattr(span, name, value)
                cut.append(name)
        for name in ("input_messages", "output_messages"):
            was_cut = False
            for message in getattr(span, name):
                for part in message.get("parts") or ():
                    for key in ("content", "response", "arguments"):
                        if isinstance(part, dict) and key in part:
                            part[key], part_cut = _cap(part[key], cap)
                            was_cut = was_cut or part_cut
            if was_cut:
                cut.append(name)
        for collection, keys in (("documents", ("content",)), ("tool_calls", ("arguments", "result"))):
            was_cut = False
            for entry in getattr(span, collection):
                for key in keys:
                    if isinstance(entry, dict) and key in entry:
                        entry[key], entry_cut = _cap(entry[key], cap)
                        was_cut = was_cut or entry_cut
            if was_cut:
                cut.append(collection)
        for key, value in list(span.attributes.items()):
            capped, was_cut = _cap(value, cap)
            if was_cut:
                span.attributes[key] = capped
                cut.append(key)
