"""GenAI log records on /v1/logs: content events (attached to their span later) and evaluation results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from apps.traces.normalize.attributes import any_value, decode_plain
from apps.traces.normalize.ids import id_problem
from apps.traces.normalize.messages import (
    canon_messages,
    input_text,
    instructions_parts,
    output_text,
    parts_text,
    system_text,
)
from apps.traces.normalize.model import LogContent, LogEvaluation, NormalizedSpan, SpanRejected
from apps.traces.normalize.otel_genai import DETAILS_EVENT, EVALUATION_EVENT, LEGACY_EVENT_ROLES, legacy_event_message
from apps.traces.normalize.sanitize import strip_nul, strip_nul_deep
from apps.traces.normalize.values import ZERO8, ZERO16, ns_to_dt, to_float, to_str
from apps.traces.otlp import INVALID_ID_ATTR, RawLogRecord


def normalize_log_record(raw: RawLogRecord) -> LogContent | LogEvaluation | None:
    """Map a GenAI log event to LogContent / LogEvaluation; None for unrelated records."""
    record = raw.record
    warnings: list[str] = []  # a log record has nowhere to keep them: NUL is stripped, depth is cut
    attrs = decode_plain(record.attributes, warnings)
    event_name = record.event_name or to_str(attrs.get("event.name", ""))
    is_content = event_name == DETAILS_EVENT or event_name in LEGACY_EVENT_ROLES or event_name == "gen_ai.choice"
    if not is_content and event_name != EVALUATION_EVENT:
        return None
    tid, sid = record.trace_id, record.span_id
    marker = to_str(attrs.get(INVALID_ID_ATTR, ""))
    if is_content:
        problem = id_problem(tid, sid, None, marker)
        if problem:
            raise SpanRejected(f"{event_name} log record: {problem}")
    else:
        # An evaluation may lack span context when it names the evaluated response instead.
        response_id = to_str(attrs.get("gen_ai.response.id", ""))
        problem = ""
        if tid and (len(tid) != 16 or tid == ZERO16):
            problem = f"trace_id must be 16 non-zero bytes, got {len(tid)}"
        elif sid and (len(sid) != 8 or sid == ZERO8):
            problem = f"span_id must be 8 non-zero bytes, got {len(sid)}"
        elif not tid and not response_id:
            problem = "needs a trace_id/span_id or gen_ai.response.id"
        if problem:
            raise SpanRejected(f"{event_name} log record: {'; '.join(filter(None, (problem, marker)))}")
        return LogEvaluation(
            trace_id=tid.hex(),
            span_id=sid.hex(),
            name=strip_nul(to_str(attrs.get("gen_ai.evaluation.name", ""))),
            score=to_float(attrs.get("gen_ai.evaluation.score.value")),
            label=strip_nul(to_str(attrs.get("gen_ai.evaluation.score.label", ""))),
            explanation=strip_nul(to_str(attrs.get("gen_ai.evaluation.explanation", ""))),
            response_id=strip_nul(response_id),
        )

    ns = record.time_unix_nano or record.observed_time_unix_nano
    when = ns_to_dt(ns) if ns else datetime.now(UTC)
    body = any_value(record.body, warnings) if record.HasField("body") else None
    content = LogContent(trace_id=tid.hex(), span_id=sid.hex(), time=when)
    _log_content_fill(content, event_name, attrs, body)
    if warnings:  # a NUL, or a JSON "\u0000" escape that parsing turned into one
        content.input_messages = strip_nul_deep(content.input_messages)[0]
        content.output_messages = strip_nul_deep(content.output_messages)[0]
        content.system_instructions = strip_nul(content.system_instructions)
    return content


def _log_content_fill(content: LogContent, event_name: str, attrs: dict[str, Any], body: Any) -> None:
    """Fill a content event's messages and system instructions from its attributes or body."""
    if event_name == DETAILS_EVENT:
        source = (
            attrs
            if "gen_ai.input.messages" in attrs or "gen_ai.output.messages" in attrs
            else (body if isinstance(body, dict) else {})
        )
        content.input_messages = canon_messages(source.get("gen_ai.input.messages"))
        content.output_messages = canon_messages(source.get("gen_ai.output.messages"), "assistant")
        sys_parts = instructions_parts(source.get("gen_ai.system_instructions"))
        if sys_parts:
            content.system_instructions = parts_text(sys_parts)
            if not any(m.get("role") in ("system", "developer") for m in content.input_messages):
                content.input_messages.insert(0, {"role": "system", "parts": sys_parts})
        else:
            content.system_instructions = system_text(content.input_messages)
        return
    body_dict = body if isinstance(body, dict) else ({"content": body} if body is not None else {})
    msg = legacy_event_message(event_name, body_dict)
    content.append = True
    if event_name == "gen_ai.choice":
        content.output_messages = [msg]
    else:
        content.input_messages = [msg]
        if msg["role"] in ("system", "developer"):
            content.system_instructions = parts_text(msg["parts"])


def append_messages(target: list[dict[str, Any]], new: list[dict[str, Any]]) -> bool:
    """Append messages not already present, keeping system/developer messages first; return True if any."""
    added = False
    for msg in new:
        if msg in target:
            continue  # the same event delivered twice
        if msg.get("role") in ("system", "developer"):
            pos = next((i for i, m in enumerate(target) if m.get("role") not in ("system", "developer")), len(target))
            target.insert(pos, msg)
        else:
            target.append(msg)
        added = True
    return added


def merge_log_content(span: NormalizedSpan, content: LogContent) -> None:
    """Fill a span's empty input/output messages (and derived text fields) from a log event.

    Details events fill a side only when it is empty; legacy per-message events (content.append)
    are appended in arrival order, skipping duplicates.
    """
    if content.append:
        changed_in = append_messages(span.input_messages, content.input_messages)
        changed_out = append_messages(span.output_messages, content.output_messages)
    else:
        changed_in = bool(content.input_messages) and not span.input_messages
        changed_out = bool(content.output_messages) and not span.output_messages
        if changed_in:
            span.input_messages = list(content.input_messages)
        if changed_out:
            span.output_messages = list(content.output_messages)
    if content.system_instructions and not span.system_instructions:
        span.system_instructions = content.system_instructions
    if changed_in and (span.kind == "llm" or not span.input_text):
        span.input_text = input_text(span.input_messages) or span.input_text
    if changed_out:
        if span.kind == "llm" or not span.output_text:
            span.output_text = output_text(span.output_messages) or span.output_text
        span.finish_reasons = span.finish_reasons or [
            m["finish_reason"] for m in span.output_messages if m.get("finish_reason")
        ]
        known = {(tc["id"], tc["name"]) for tc in span.tool_calls}
        for m in content.output_messages:
            for p in m.get("parts") or ():
                if p.get("type") == "tool_call" and (to_str(p.get("id", "")), to_str(p.get("name", ""))) not in known:
                    span.tool_calls.append(
                        {
                            "id": to_str(p.get("id", "")),
                            "name": to_str(p.get("name", "")),
                            "arguments": p.get("arguments"),
                        }
                    )
