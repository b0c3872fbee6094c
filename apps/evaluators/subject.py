"""What an evaluator looks at: one trace flattened into plain fields (pure Python, no Django)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Document:
    """A retrieved document the answer may rely on."""

    id: str
    content: str
    score: float | None = None


@dataclass(slots=True)
class ToolCall:
    """A tool call the model made; arguments as sent (usually a JSON string, sometimes already parsed)."""

    name: str
    arguments: Any
    id: str = ""


@dataclass(slots=True)
class Subject:
    """One trace as evaluators see it."""

    trace_id: str
    input: str = ""  # the user's request (last user message of the first LLM call, or the trace input)
    output: str = ""  # the final answer text
    system_prompt: str = ""
    documents: list[Document] = field(default_factory=list)  # from every retrieval span, in order
    retrieval_query: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)  # from every LLM span's output, in order
    # Declared tools, OTel shape: {"type": "function", "name": ..., "description"?, "parameters"?: JSON Schema}.
    tool_definitions: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str = ""  # of the last LLM call ("stop", "length", "tool_call", "content_filter", …)
    expects_json: bool = False  # the request asked for JSON output (response_format / output type)
    route: str = ""
    model: str = ""
    prompt_version: str = ""
    environment: str = ""
    tags: list[str] = field(default_factory=list)
    span_kinds: set[str] = field(default_factory=set)
    # The answer as the checks read it, worked out once per subject (checks/analysis.answer_analysis).
    analysis: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class CheckResult:
    """One programmatic evaluation: what becomes a Score."""

    value: float
    passed: bool | None
    label: str
    explanation: str
