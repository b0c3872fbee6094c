"""OpenLLMetry (traceloop): indexed `gen_ai.prompt.{i}.*` / `gen_ai.completion.{i}.*` messages (<=0.54), and
the `traceloop.entity.input`/`.output` payloads of its `@workflow`/`@task`/`@agent`/`@tool` decorators.

Its newer JSON attributes (>=0.55) are the OTel GenAI ones; its `traceloop.span.kind` and
`llm.request.type` feed the kind step (span.py) through genai_aliases.
"""

from __future__ import annotations

from typing import Any

import orjson

from apps.traces.normalize.messages import canon_message

ENTITY_INPUT_KEY = "traceloop.entity.input"
ENTITY_OUTPUT_KEY = "traceloop.entity.output"


def indexed_messages(items: list[Any], role: str) -> list[dict[str, Any]]:
    """Canonicalize unflattened `gen_ai.prompt.{i}.*` entries (role, content, tool_calls, ...)."""
    return [canon_message(m, role) for m in items if isinstance(m, dict)]


def _loads(text: str) -> Any:
    """Parse JSON text; None when it is not JSON (a payload cut at the value cap, plain text)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def entity_input_text(raw: str) -> str:
    """The text of a decorator's `{"args": [...], "kwargs": {...}}` input: its one string argument, "" when the
    call had no arguments, else the payload as it came."""
    if not raw.startswith("{"):
        return raw
    value = _loads(raw)
    if not isinstance(value, dict) or set(value) != {"args", "kwargs"}:
        return raw
    args, kwargs = value["args"], value["kwargs"]
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        return raw
    if not args and not kwargs:
        return ""
    only = [*args, *kwargs.values()]
    if len(only) == 1 and isinstance(only[0], str):
        return only[0]
    return raw


def entity_output_text(raw: str) -> str:
    """The text of a decorator's output when it is a JSON-encoded string (`"..."`), else the payload as it came."""
    if not raw.startswith('"'):
        return raw
    value = _loads(raw)
    return value if isinstance(value, str) else raw
