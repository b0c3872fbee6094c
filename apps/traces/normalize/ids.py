"""Trace/span id validation, with the reason a span or log record is rejected."""

from __future__ import annotations

from typing import Any

from apps.traces.normalize.values import ZERO8, ZERO16
from apps.traces.otlp import INVALID_ID_ATTR


def id_problem(trace_id: bytes, span_id: bytes, parent: bytes | None, marker: str) -> str:
    """Describe why a trace/span/parent id triple is invalid ("" when it is valid)."""
    problems = []
    if not trace_id and not span_id:
        problems.append("trace_id and span_id are missing (was an OTLP logs body posted to the traces endpoint?)")
    else:
        if len(trace_id) != 16:
            problems.append(f"trace_id must be 16 bytes, got {len(trace_id)}")
        elif trace_id == ZERO16:
            problems.append("trace_id is all zeros")
        if len(span_id) != 8:
            problems.append(f"span_id must be 8 bytes, got {len(span_id)}")
        elif span_id == ZERO8:
            problems.append("span_id is all zeros")
    if parent and len(parent) != 8:
        problems.append(f"parent_span_id must be empty or 8 bytes, got {len(parent)}")
    if problems and marker:
        problems.append(marker)
    return "; ".join(problems)


def invalid_id_marker(kvs: Any) -> str:
    """Return the decoder's invalid-id note from a span/log attribute list ("" if none)."""
    for kv in kvs:
        if kv.key == INVALID_ID_ATTR:
            return kv.value.string_value
    return ""
