"""Helpers that store traces through the real ingest service, so rows look exactly like ingested ones."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from apps.projects.models import Project
from apps.traces.models import Trace
from apps.traces.normalize import NormalizedSpan
from apps.traces.services import spans_ingest

BASE_TIME = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
_counter = itertools.count(1)


def new_trace_id() -> str:
    """Return a random 32-hex trace id."""
    return secrets.token_hex(16)


def new_span_id() -> str:
    """Return a random 16-hex span id."""
    return secrets.token_hex(8)


def span(
    trace_id: str, *, start_ms: float, duration_ms: float, at: datetime = BASE_TIME, **fields: Any
) -> NormalizedSpan:
    """Build one normalized span starting start_ms after `at` and lasting duration_ms."""
    started = at + timedelta(milliseconds=start_ms)
    return NormalizedSpan(
        trace_id=trace_id,
        span_id=fields.pop("span_id", None) or new_span_id(),
        started_at=started,
        ended_at=started + timedelta(milliseconds=duration_ms),
        latency_ms=duration_ms,
        **fields,
    )


def simple_trace(project: Project, *, at: datetime | None = None, **fields: Any) -> Trace:
    """Store a one-span LLM trace; `fields` go onto the span (route, model, user_id, status, tags, ...)."""
    trace_id = fields.pop("trace_id", None) or new_trace_id()
    n = next(_counter)
    defaults: dict[str, Any] = {
        "name": f"chat {n}",
        "kind": "llm",
        "operation": "chat",
        "is_root": True,
        "model": "gpt-4o-mini",
        "provider": "openai",
        "input_text": f"question {n}",
        "output_text": f"answer {n}",
        "input_tokens": 10,
        "output_tokens": 5,
        "total_tokens": 15,
        "cost_total": 0.0001,
    }
    root = span(
        trace_id, start_ms=0, duration_ms=fields.pop("duration_ms", 120), at=at or BASE_TIME, **{**defaults, **fields}
    )
    spans_ingest(project=project, spans=[root])
    return Trace.objects.get(project=project, trace_id=trace_id)


def rag_trace(project: Project, *, at: datetime | None = None, **trace_fields: Any) -> Trace:
    """Store a realistic RAG agent trace: root chain, retrieval with documents, LLM with a tool call, tool, final LLM."""
    at = at or BASE_TIME
    tid = trace_fields.pop("trace_id", None) or new_trace_id()
    dims = {
        "route": "support.answer",
        "environment": "production",
        "prompt_name": "support-answer",
        "prompt_version": "v7",
        "user_id": "user-42",
        "session_id": "sess-9",
        "tags": ["beta", "eu"],
        **trace_fields,
    }
    root_id, retr_id, llm1_id, tool_id, llm2_id = (new_span_id() for _ in range(5))
    root = span(
        tid,
        span_id=root_id,
        start_ms=0,
        duration_ms=2400,
        at=at,
        name="support-agent",
        kind="agent",
        trace_name="answer support ticket",
        is_root=True,
        status="ok",
        input_text="How do I reset my password?",
        output_text="Open Settings → Security and click Reset.",
        raw_input='{"ticket": 1234}',
        **dims,
    )
    retrieval = span(
        tid,
        span_id=retr_id,
        parent_span_id=root_id,
        is_root=False,
        start_ms=20,
        duration_ms=180,
        at=at,
        name="vector-search",
        kind="retrieval",
        operation="retrieval",
        retrieval_query="reset password",
        documents=[
            {
                "id": "kb-17",
                "score": 0.91,
                "content": "To reset a password, open Settings → Security.",
                "metadata": {"source": "kb/security.md"},
            },
            {"id": "kb-3", "score": 0.55, "content": "Billing questions go to billing@acme.test.", "metadata": {}},
        ],
        **dims,
    )
    llm1 = span(
        tid,
        span_id=llm1_id,
        parent_span_id=root_id,
        is_root=False,
        start_ms=220,
        duration_ms=900,
        at=at,
        name="chat gpt-4o",
        kind="llm",
        operation="chat",
        model="gpt-4o-2024-08-06",
        model_requested="gpt-4o",
        provider="openai",
        system_instructions="You are Acme's support assistant. Cite the knowledge base.",
        input_messages=[
            {"role": "user", "parts": [{"type": "text", "content": "How do I reset my password? <b>urgent</b>"}]},
        ],
        output_messages=[
            {
                "role": "assistant",
                "finish_reason": "tool_call",
                "parts": [
                    {"type": "reasoning", "content": "The user needs the reset flow; look up the account first."},
                    {
                        "type": "tool_call",
                        "id": "call_1",
                        "name": "lookup_account",
                        "arguments": {"email": "a@acme.test"},
                    },
                ],
            },
        ],
        tool_definitions=[
            {
                "type": "function",
                "name": "lookup_account",
                "description": "Find an account by email",
                "parameters": {"type": "object", "properties": {"email": {"type": "string"}}},
            }
        ],
        tool_calls=[{"id": "call_1", "name": "lookup_account", "arguments": {"email": "a@acme.test"}}],
        finish_reasons=["tool_call"],
        input_tokens=812,
        output_tokens=40,
        total_tokens=852,
        cache_read_tokens=512,
        cost_input=0.00203,
        cost_output=0.0004,
        cost_total=0.00243,
        request_params={"temperature": 0.2},
        input_text="How do I reset my password?",
        attributes={"llm.custom": "x"},
        **dims,
    )
    tool = span(
        tid,
        span_id=tool_id,
        parent_span_id=root_id,
        is_root=False,
        start_ms=1130,
        duration_ms=150,
        at=at,
        name="lookup_account",
        kind="tool",
        operation="execute_tool",
        tool_calls=[
            {
                "id": "call_1",
                "name": "lookup_account",
                "type": "function",
                "arguments": {"email": "a@acme.test"},
                "result": {"plan": "pro", "locked": False},
            }
        ],
        raw_input='{"email": "a@acme.test"}',
        raw_output='{"plan": "pro", "locked": false}',
        **dims,
    )
    llm2 = span(
        tid,
        span_id=llm2_id,
        parent_span_id=root_id,
        is_root=False,
        start_ms=1300,
        duration_ms=1050,
        at=at,
        name="chat gpt-4o",
        kind="llm",
        operation="chat",
        model="gpt-4o-2024-08-06",
        provider="openai",
        input_messages=[
            {"role": "user", "parts": [{"type": "text", "content": "How do I reset my password?"}]},
            {
                "role": "tool",
                "parts": [{"type": "tool_call_response", "id": "call_1", "response": {"plan": "pro", "locked": False}}],
            },
        ],
        output_messages=[
            {
                "role": "assistant",
                "finish_reason": "stop",
                "parts": [{"type": "text", "content": "Open Settings → Security and click Reset."}],
            }
        ],
        finish_reasons=["stop"],
        input_tokens=900,
        output_tokens=60,
        total_tokens=960,
        reasoning_tokens=12,
        cost_total=0.0031,
        output_text="Open Settings → Security and click Reset.",
        **dims,
    )
    spans_ingest(project=project, spans=[root, retrieval, llm1, tool, llm2])
    return Trace.objects.get(project=project, trace_id=tid)
