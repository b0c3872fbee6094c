"""The tool_call_valid check: each call names a declared tool and its arguments fit that tool's schema."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from apps.evaluators.checks.base import Check, clip, finish
from apps.evaluators.checks.json_checks import schema_errors, schema_problem, schema_validator
from apps.evaluators.subject import CheckResult, Subject, ToolCall


def declared_tools(definitions: list[dict[str, Any]]) -> dict[str, Any]:
    """Map tool name → parameters schema (None when undeclared); accepts the OTel and the OpenAI shapes."""
    tools: dict[str, Any] = {}
    for definition in definitions:
        if not isinstance(definition, Mapping):
            continue
        inner = definition.get("function") if isinstance(definition.get("function"), Mapping) else definition
        name = inner.get("name")
        if isinstance(name, str) and name:
            # Anthropic calls it input_schema; OpenAI and OTel call it parameters.
            tools[name] = inner.get("parameters", inner.get("input_schema"))
    return tools


def parse_arguments(arguments: Any) -> tuple[Any, str]:
    """Return (parsed arguments, error); a blank string or None means no arguments."""
    if arguments is None:
        return {}, ""
    if isinstance(arguments, str):
        if not arguments.strip():
            return {}, ""
        try:
            value = json.loads(arguments)
        except json.JSONDecodeError as exc:
            near = clip(arguments[max(0, exc.pos - 20) : exc.pos + 10], 40)
            return (
                None,
                f"arguments are not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}, near {near!r})",
            )
    else:
        value = arguments
    if not isinstance(value, Mapping):
        return None, f"arguments must be a JSON object, got {type(value).__name__}"
    return value, ""


class ToolCallValidCheck(Check):
    """Every tool call names a declared tool and sends arguments valid for its parameters schema."""

    kind = "tool_call_valid"
    value_unit = "share of tool calls valid"
    value_labels = ((1.0, "every call valid (pass)"),)
    mean_informative = True
    defaults: dict[str, Any] = {}

    def applies(self, subject: Subject, config: Mapping[str, Any]) -> bool:
        """Apply when the model called at least one tool."""
        return bool(subject.tool_calls)

    def run(self, subject: Subject, config: Mapping[str, Any]) -> CheckResult:
        """Return the share of valid calls; label the first problem "unknown_tool" or "invalid_arguments"."""
        tools = declared_tools(subject.tool_definitions)
        problems: list[tuple[str, str]] = []
        notes: list[str] = []
        for index, call in enumerate(subject.tool_calls, start=1):
            problem = self._problem(call, tools, notes)
            if problem:
                problems.append((problem[0], f"{_name(call, index)}: {problem[1]}"))
        calls = len(subject.tool_calls)
        note = (" Not checked: " + "; ".join(notes[:2]) + ".") if notes else ""
        if not problems:
            if tools:
                what = "matches its declared schema" if calls == 1 else "match their declared schemas"
            else:
                what = "has" if calls == 1 else "have"
                what += " JSON-object arguments (no tool definitions to check against)"
            counted = "The tool call" if calls == 1 else f"All {calls} tool calls"
            return finish(1.0, True, "ok", f"{counted} {what}.{note}")
        labels = [label for label, _ in problems]
        label = "unknown_tool" if "unknown_tool" in labels else "invalid_arguments"
        shown = "; ".join(d for _, d in problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        return finish(
            1 - len(problems) / calls,
            False,
            label,
            f"{len(problems)} of {calls} tool calls are invalid. {shown}.{note}",
        )

    def _problem(self, call: ToolCall, tools: dict[str, Any], notes: list[str]) -> tuple[str, str] | None:
        """Return (label, description) of what is wrong with one call, or None."""
        if tools and call.name not in tools:
            known = clip(", ".join(sorted(tools)), 120)
            return "unknown_tool", f"no tool named {call.name!r} is declared (declared: {known})"
        arguments, error = parse_arguments(call.arguments)
        if error:
            return "invalid_arguments", error
        schema = tools.get(call.name)
        if schema is None or schema == {}:
            return None
        problem = schema_problem(schema)
        if problem:
            notes.append(f"the declared schema of {call.name!r} is invalid ({clip(problem, 100)})")
            return None
        try:
            count, described = schema_errors(schema_validator(schema), arguments, limit=2)
        except SoftTimeLimitExceeded:
            raise  # the task's time is up: never swallowed as a schema problem
        except Exception as exc:  # noqa: BLE001 - an unresolvable $ref in the app's own schema is not the call's fault
            notes.append(f"{call.name!r} could not be validated ({clip(str(exc), 80)})")
            return None
        if count:
            return "invalid_arguments", "; ".join(described)
        return None


def _name(call: ToolCall, index: int) -> str:
    """Name a call for explanations: the tool and its position (and id when present)."""
    ident = f", id {clip(call.id, 24)}" if call.id else ""
    return f"{clip(call.name, 60)} (call {index}{ident})"
