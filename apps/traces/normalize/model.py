"""The normalizer's output types: NormalizedSpan, LogContent, LogEvaluation, and the SpanRejected error."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apps.traces.normalize.values import EPOCH


class SpanRejected(Exception):
    """A single span (or log record) that cannot be stored; the message says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class NormalizedSpan:
    """One OTLP span mapped onto Sightline's emitter-independent span model."""

    trace_id: str
    span_id: str
    parent_span_id: str = ""
    is_root: bool = True
    name: str = ""
    kind: str = "other"
    operation: str = ""
    started_at: datetime = EPOCH
    ended_at: datetime = EPOCH
    latency_ms: float = 0.0
    status: str = "unset"
    error_type: str = ""
    error_message: str = ""
    model: str = ""
    model_requested: str = ""
    model_responded: str = ""
    provider: str = ""
    prompt_name: str = ""
    prompt_version: str = ""
    route: str = ""
    environment: str = ""
    release: str = ""
    user_id: str = ""
    session_id: str = ""
    tags: list[str] = field(default_factory=list)
    trace_name: str = ""
    system_instructions: str = ""
    input_messages: list[dict[str, Any]] = field(default_factory=list)
    output_messages: list[dict[str, Any]] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)
    tool_definitions: list[Any] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    retrieval_query: str = ""
    documents: list[dict[str, Any]] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_input: float | None = None
    cost_output: float | None = None
    cost_total: float | None = None
    cost_source: str = ""
    request_params: dict[str, Any] = field(default_factory=dict)
    raw_input: str = ""
    raw_output: str = ""
    input_text: str = ""
    output_text: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    scope: dict[str, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    dropped_attributes_count: int = 0


@dataclass(slots=True)
class LogContent:
    """Message content carried by a GenAI log event, to be attached to its span."""

    trace_id: str
    span_id: str
    time: datetime
    input_messages: list[dict[str, Any]] = field(default_factory=list)
    output_messages: list[dict[str, Any]] = field(default_factory=list)
    system_instructions: str = ""
    # True for the legacy one-message-per-event records: merge appends instead of filling once.
    append: bool = False


@dataclass(slots=True)
class LogEvaluation:
    """One `gen_ai.evaluation.result` event."""

    trace_id: str
    span_id: str
    name: str
    score: float | None
    label: str
    explanation: str
    response_id: str
