"""OpenLLMetry (traceloop): indexed `gen_ai.prompt.{i}.*` / `gen_ai.completion.{i}.*` messages (<=0.54).

Its newer JSON attributes (>=0.55) are the OTel GenAI ones; its `traceloop.span.kind` and
`llm.request.type` feed the kind step (span.py) through genai_aliases.
"""

from __future__ import annotations

from typing import Any

from apps.traces.normalize.messages import canon_message


def indexed_messages(items: list[Any], role: str) -> list[dict[str, Any]]:
    """Canonicalize unflattened `gen_ai.prompt.{i}.*` entries (role, content, tool_calls, ...)."""
    return [canon_message(m, role) for m in items if isinstance(m, dict)]
