"""Programmatic checks: the registry and run_check, config validation, and the non-RAG checks.

Refusal cases live in test_checks_refusal.py; citations, grounding and throughput in test_checks_rag.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.evaluators.checks import CHECKS, DEFAULT_KINDS, CheckConfigError, get_check, run_check
from apps.evaluators.subject import CheckResult, Document, Subject, ToolCall


def subject(output: str = "", **fields: Any) -> Subject:
    """Build a subject with an answer and any other fields."""
    return Subject(trace_id="t", output=output, **fields)


def result_of(kind: str, config: dict[str, Any], subj: Subject) -> CheckResult:
    """Run a check that must apply."""
    result = run_check(kind, config, subj)
    assert result is not None, f"{kind} did not apply"
    return result


# --- registry and API -----------------------------------------------------------------------


def test_registry_holds_every_kind() -> None:
    assert set(CHECKS) == {
        "not_empty", "refusal", "json_valid", "json_schema", "regex", "format", "citations", "grounding",
        "tool_call_valid",
    }  # fmt: skip
    assert all(CHECKS[kind].kind == kind for kind in CHECKS)
    assert set(DEFAULT_KINDS) <= set(CHECKS)


def test_run_check_names_an_unknown_kind() -> None:
    with pytest.raises(CheckConfigError) as error:
        run_check("sentiment", {}, subject("hi"))
    assert error.value.field == "kind"


@pytest.mark.parametrize("kind", sorted(set(CHECKS) - {"regex", "json_schema", "format"}))
def test_checks_accept_an_empty_config(kind: str) -> None:
    assert isinstance(CHECKS[kind].validate_config({}), dict)
    assert isinstance(CHECKS[kind].validate_config(None), dict)


def test_validate_config_fills_defaults() -> None:
    assert CHECKS["grounding"].validate_config({"threshold": 1}) == {
        "threshold": 1.0, "min_share": 0.8, "min_content_words": 3,
    }  # fmt: skip


CONFIG_ERRORS = {
    "unknown-option": ("not_empty", {"allow_whitespace": True}, "allow_whitespace"),
    "not-a-mapping": ("not_empty", ["x"], "config"),
    "bool-as-string": ("json_valid", {"always": "yes"}, "always"),
    "regex-missing-pattern": ("regex", {}, "pattern"),
    "regex-invalid": ("regex", {"pattern": "(unclosed"}, "pattern"),
    "regex-bad-flag": ("regex", {"pattern": "x", "flags": "iq"}, "flags"),
    "regex-bad-mode": ("regex", {"pattern": "x", "mode": "contains"}, "mode"),
    "negative-max-length": ("format", {"max_length": -1}, "max_length"),
    "length-not-int": ("format", {"min_length": 2.5}, "min_length"),
    "min-above-max": ("format", {"min_length": 50, "max_length": 10}, "min_length"),
    "format-without-rules": ("format", {}, "pattern"),
    "schema-missing": ("json_schema", {}, "schema"),
    "schema-not-object": ("json_schema", {"schema": "object"}, "schema"),
    "schema-invalid": ("json_schema", {"schema": {"type": "objekt"}}, "schema"),
    "schema-bad-minimum": ("json_schema", {"schema": {"properties": {"p": {"minimum": "0"}}}}, "schema"),
    "threshold-zero": ("grounding", {"threshold": 0}, "threshold"),
    "share-above-one": ("grounding", {"min_share": 1.5}, "min_share"),
    "negative-min-words": ("citations", {"min_words_to_require": -3}, "min_words_to_require"),
}


@pytest.mark.parametrize(("kind", "config", "field"), CONFIG_ERRORS.values(), ids=CONFIG_ERRORS.keys())
def test_validate_config_names_the_bad_field(kind: str, config: Any, field: str) -> None:
    with pytest.raises(CheckConfigError) as error:
        CHECKS[kind].validate_config(config)
    assert error.value.field == field
    assert error.value.message


def test_invalid_schema_error_points_into_the_schema() -> None:
    with pytest.raises(CheckConfigError) as error:
        CHECKS["json_schema"].validate_config({"schema": {"properties": {"price": {"minimum": "zero"}}}})
    assert "schema.properties.price.minimum" in error.value.message


def test_get_check_returns_the_instance() -> None:
    assert get_check("regex") is CHECKS["regex"]


# --- not_empty ------------------------------------------------------------------------------

NOT_EMPTY = {
    "answer": (subject("Your order shipped.", finish_reason="stop"), 1.0, True, "ok"),
    "empty": (subject("", finish_reason="stop"), 0.0, False, "empty"),
    "whitespace": (subject(" \n\t ", finish_reason="stop"), 0.0, False, "empty"),
    "truncated-length": (subject("The three steps are: first, open the", finish_reason="length"), 0.0, False, "truncated"),
    "truncated-max-tokens": (subject("Step 1: …", finish_reason="max_tokens"), 0.0, False, "truncated"),
    "truncated-uppercase": (subject("Partial", finish_reason="LENGTH"), 0.0, False, "truncated"),
    "truncated-and-empty": (subject("", finish_reason="length"), 0.0, False, "truncated"),
    "tool-call-only": (
        subject("", finish_reason="tool_calls", tool_calls=[ToolCall("get_weather", '{"city": "Oslo"}')]),
        1.0, True, "tool_calls",
    ),
    "no-finish-reason": (subject("Done."), 1.0, True, "ok"),
}  # fmt: skip


@pytest.mark.parametrize(("subj", "value", "passed", "label"), NOT_EMPTY.values(), ids=NOT_EMPTY.keys())
def test_not_empty(subj: Subject, value: float, passed: bool, label: str) -> None:
    result = result_of("not_empty", {}, subj)
    assert (result.value, result.passed, result.label) == (value, passed, label), result.explanation


def test_not_empty_can_require_text_after_tool_calls() -> None:
    subj = subject("", finish_reason="tool_calls", tool_calls=[ToolCall("lookup", "{}")])
    assert result_of("not_empty", {"allow_tool_calls": False}, subj).label == "empty"


def test_not_empty_truncation_explanation_quotes_the_tail() -> None:
    result = result_of("not_empty", {}, subject("The three steps are: first, open the", finish_reason="length"))
    assert "'length'" in result.explanation and "first, open the" in result.explanation


# --- json_valid -----------------------------------------------------------------------------

JSON_VALID = {
    "object": ('{"answer": "yes", "confidence": 0.9}', {}, True, "ok"),
    "array": ("[1, 2, 3]", {}, True, "ok"),
    "scalar-string": ('"just a string"', {}, True, "ok"),
    "surrounding-whitespace": ('\n  {"a": 1}\n', {}, True, "ok"),
    "fenced-json": ('```json\n{"a": 1}\n```', {}, True, "ok"),
    "fenced-untagged": ('```\n{"a": 1}\n```', {}, True, "ok"),
    "fenced-not-allowed": ('```json\n{"a": 1}\n```', {"allow_fenced": False}, False, "invalid_json"),
    "fence-with-prose": ('Here you go:\n```json\n{"a": 1}\n```', {}, False, "invalid_json"),
    "trailing-comma": ('{"a": 1,}', {}, False, "invalid_json"),
    "single-quotes": ("{'a': 1}", {}, False, "invalid_json"),
    "prose": ("Sure! The answer is 42.", {}, False, "invalid_json"),
    "truncated": ('{"items": [{"name": "a"}, {"na', {}, False, "invalid_json"),
    "nan": ('{"score": NaN}', {}, False, "invalid_json"),
    "empty": ("", {}, False, "invalid_json"),
}


@pytest.mark.parametrize(("output", "config", "passed", "label"), JSON_VALID.values(), ids=JSON_VALID.keys())
def test_json_valid(output: str, config: dict[str, Any], passed: bool, label: str) -> None:
    result = result_of("json_valid", config, subject(output, expects_json=True))
    assert (result.value, result.passed, result.label) == (1.0 if passed else 0.0, passed, label), result.explanation


def test_json_valid_explains_line_and_column() -> None:
    result = result_of("json_valid", {}, subject('{\n  "a": 1,\n  "b": 2,\n}', expects_json=True))
    assert "line 4, column 1" in result.explanation


def test_json_valid_says_prose_is_prose() -> None:
    result = result_of("json_valid", {}, subject("Sure! The answer is 42.", expects_json=True))
    assert "prose" in result.explanation


def test_json_valid_mentions_a_fence_hidden_in_prose() -> None:
    result = result_of("json_valid", {}, subject('Here you go:\n```json\n{"a": 1}\n```', expects_json=True))
    assert "```json block" in result.explanation


def test_json_valid_applies_only_to_json_requests_unless_always() -> None:
    assert run_check("json_valid", {}, subject("plain text")) is None
    result = run_check("json_valid", {"always": True}, subject("plain text"))
    assert result is not None and result.label == "invalid_json"


# --- json_schema ----------------------------------------------------------------------------

ORDER_SCHEMA = {
    "type": "object",
    "required": ["order_id", "items"],
    "additionalProperties": False,
    "properties": {
        "order_id": {"type": "string", "pattern": "^ORD-[0-9]+$"},
        "email": {"type": "string", "format": "email"},
        "items": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["sku", "price"],
                "properties": {"sku": {"type": "string"}, "price": {"type": "number", "minimum": 0}},
            },
        },
    },
}
GOOD_ORDER = {"order_id": "ORD-17", "items": [{"sku": "A1", "price": 3.5}, {"sku": "B2", "price": 0}]}


def order(**changes: Any) -> str:
    """Return the good order as JSON with top-level changes."""
    return json.dumps({**GOOD_ORDER, **changes})


JSON_SCHEMA = {
    "valid": (order(), "ok", None),
    "valid-fenced": (f"```json\n{order()}\n```", "ok", None),
    "negative-price": (
        order(items=[{"sku": "A", "price": 1}, {"sku": "B", "price": 2}, {"sku": "C", "price": -1}]),
        "schema_violation", "$.items[2].price: -1 is less than the minimum of 0",
    ),
    "missing-required": (json.dumps({"items": GOOD_ORDER["items"]}), "schema_violation", "$: 'order_id' is a required property"),
    "nested-required": (order(items=[{"sku": "A"}]), "schema_violation", "$.items[0]: 'price' is a required property"),
    "wrong-type": (order(order_id=17), "schema_violation", "$.order_id: 17 is not of type 'string'"),
    "pattern": (order(order_id="17"), "schema_violation", "$.order_id: '17' does not match"),
    "extra-property": (order(note="hi"), "schema_violation", "Additional properties are not allowed ('note'"),
    "empty-items": (order(items=[]), "schema_violation", "$.items: [] should be non-empty"),
    "bad-email-format": (order(email="not-an-email"), "schema_violation", "$.email: 'not-an-email' is not a 'email'"),
    "not-json": ("The order is ORD-17.", "invalid_json", "not valid JSON"),
}  # fmt: skip


@pytest.mark.parametrize(("output", "label", "snippet"), JSON_SCHEMA.values(), ids=JSON_SCHEMA.keys())
def test_json_schema(output: str, label: str, snippet: str | None) -> None:
    result = result_of("json_schema", {"schema": ORDER_SCHEMA}, subject(output))
    assert result.label == label, result.explanation
    assert result.passed is (label == "ok")
    assert result.value == (1.0 if label == "ok" else 0.0)
    if snippet:
        assert snippet in result.explanation


def test_json_schema_reports_at_most_three_errors_best_first() -> None:
    bad = json.dumps({"order_id": 5, "items": [{"price": -1}, {"price": -2}], "x": 1, "y": 2})
    result = result_of("json_schema", {"schema": ORDER_SCHEMA}, subject(bad))
    assert result.explanation.count("$") == 3
    assert "errors, first 3 shown" in result.explanation
    assert len(result.explanation) <= 500


def test_json_schema_honours_the_schemas_own_draft() -> None:
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "required": ["a"]}
    assert result_of("json_schema", {"schema": schema}, subject('{"a": 1}')).passed is True
    assert result_of("json_schema", {"schema": schema}, subject("{}")).label == "schema_violation"


def test_json_schema_format_checks_can_be_turned_off() -> None:
    config = {"schema": ORDER_SCHEMA, "check_formats": False}
    assert result_of("json_schema", config, subject(order(email="nope"))).passed is True


def test_json_schema_can_be_limited_to_json_requests() -> None:
    assert run_check("json_schema", {"schema": ORDER_SCHEMA, "always": False}, subject(order())) is None


# --- regex and format ---------------------------------------------------------------------

PATTERNS = {
    "must-match-ok": ("regex", {"pattern": r"ORD-\d+"}, "Your order ORD-1234 shipped.", "ok"),
    "must-match-missing": ("regex", {"pattern": r"ORD-\d+"}, "Your order shipped.", "no_match"),
    "ignore-case": ("regex", {"pattern": "thank you", "flags": "i"}, "Thank You for waiting.", "ok"),
    "case-sensitive": ("regex", {"pattern": "thank you"}, "Thank You for waiting.", "no_match"),
    "multiline-anchor": ("regex", {"pattern": r"^Sources:", "flags": "m"}, "Answer.\nSources: [1]", "ok"),
    "no-multiline": ("regex", {"pattern": r"^Sources:"}, "Answer.\nSources: [1]", "no_match"),
    "full-match": ("regex", {"pattern": r"(yes|no)", "full_match": True}, " yes \n", "ok"),
    "full-match-fails": ("regex", {"pattern": r"(yes|no)", "full_match": True}, "yes, because", "no_match"),
    "forbidden-absent": ("regex", {"pattern": r"\b\d{3}-\d{2}-\d{4}\b", "mode": "must_not_match"}, "No SSN here.", "ok"),
    "forbidden-present": (
        "regex", {"pattern": r"\b\d{3}-\d{2}-\d{4}\b", "mode": "must_not_match"}, "SSN 123-45-6789.", "match",
    ),
    "too-long": ("format", {"max_length": 20}, "This answer is much longer than twenty characters.", "too_long"),
    "too-short": ("format", {"min_length": 10}, "Yes.", "too_short"),
    "length-ignores-outer-space": ("format", {"max_length": 4}, "  Yes.  \n", "ok"),
    "max-words": ("format", {"max_words": 5}, "one two three four five six", "too_long"),
    "min-words": ("format", {"min_words": 3}, "Yes indeed", "too_short"),
    "format-with-pattern": ("format", {"pattern": r"^\d{4}-\d{2}-\d{2}$"}, "2024-05-01", "ok"),
    "format-pattern-fails": ("format", {"pattern": r"^\d{4}-\d{2}-\d{2}$"}, "May 1st", "no_match"),
    "regex-with-length": ("regex", {"pattern": "ok", "max_length": 3}, "ok then", "too_long"),
}  # fmt: skip


@pytest.mark.parametrize(("kind", "config", "output", "label"), PATTERNS.values(), ids=PATTERNS.keys())
def test_regex_and_format(kind: str, config: dict[str, Any], output: str, label: str) -> None:
    result = result_of(kind, config, subject(output))
    assert result.label == label, result.explanation
    assert (result.value, result.passed) == ((1.0, True) if label == "ok" else (0.0, False))


def test_regex_explanation_names_every_failed_rule() -> None:
    result = result_of("regex", {"pattern": r"\[\d+\]", "max_length": 5}, subject("A long answer without citations"))
    assert result.label == "too_long"
    assert "maximum of 5" in result.explanation and "required pattern" in result.explanation


def test_regex_explanation_quotes_the_forbidden_match() -> None:
    config = {"pattern": r"\bsk-[A-Za-z0-9]{8,}", "mode": "must_not_match"}
    result = result_of("regex", config, subject("Use the key sk-abcdef123456 in the header."))
    assert "sk-abcdef123456" in result.explanation


def test_regex_compiles_each_pattern_once() -> None:
    from apps.evaluators.checks.patterns import compile_user_pattern

    config = CHECKS["regex"].validate_config({"pattern": r"cache-me-\d+", "flags": "i"})
    before = compile_user_pattern.cache_info().misses
    for _ in range(50):
        CHECKS["regex"].run(subject("cache-me-1"), config)
    assert compile_user_pattern.cache_info().misses == before


# --- tool_call_valid ----------------------------------------------------------------------

TOOLS = [
    {
        "type": "function",
        "name": "search_orders",
        "parameters": {
            "type": "object",
            "required": ["customer_id"],
            "properties": {
                "customer_id": {"type": "string"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 50},
                "status": {"enum": ["open", "shipped", "cancelled"]},
            },
            "additionalProperties": False,
        },
    },
    {"type": "function", "function": {"name": "refund", "parameters": {"type": "object", "required": ["order_id"]}}},
    {"type": "function", "name": "ping"},
]


def calls(*pairs: tuple[str, Any]) -> list[ToolCall]:
    """Build tool calls from (name, arguments) pairs."""
    return [ToolCall(name, arguments, id=f"call_{i}") for i, (name, arguments) in enumerate(pairs)]


TOOL_CASES = {
    "valid-string-args": (calls(("search_orders", '{"customer_id": "c1", "limit": 5}')), TOOLS, "ok", 1.0, None),
    "valid-dict-args": (calls(("search_orders", {"customer_id": "c1"})), TOOLS, "ok", 1.0, None),
    "openai-shape-definition": (calls(("refund", '{"order_id": "o1"}')), TOOLS, "ok", 1.0, None),
    "no-parameters-declared": (calls(("ping", "")), TOOLS, "ok", 1.0, None),
    "missing-required": (
        calls(("search_orders", '{"limit": 5}')), TOOLS, "invalid_arguments", 0.0, "'customer_id' is a required property",
    ),
    "out-of-range": (calls(("search_orders", '{"customer_id": "c", "limit": 500}')), TOOLS, "invalid_arguments", 0.0, "$.limit: 500"),
    "bad-enum": (calls(("search_orders", '{"customer_id": "c", "status": "lost"}')), TOOLS, "invalid_arguments", 0.0, "$.status"),
    "broken-json": (calls(("search_orders", '{"customer_id": "c1"')), TOOLS, "invalid_arguments", 0.0, "not valid JSON"),
    "array-args": (calls(("search_orders", "[1, 2]")), TOOLS, "invalid_arguments", 0.0, "must be a JSON object"),
    "unknown-tool": (calls(("delete_account", "{}")), TOOLS, "unknown_tool", 0.0, "'delete_account'"),
    "one-of-two-bad": (
        calls(("search_orders", '{"customer_id": "c"}'), ("refund", "{}")), TOOLS, "invalid_arguments", 0.5,
        "refund (call 2, id call_1): $: 'order_id' is a required property",
    ),
    "unknown-wins-label": (
        calls(("refund", "{}"), ("nope", "{}")), TOOLS, "unknown_tool", 0.0, "'nope'",
    ),
    "no-definitions-valid-json": (calls(("anything", '{"x": 1}')), [], "ok", 1.0, "no tool definitions"),
    "no-definitions-broken-json": (calls(("anything", "{x: 1}")), [], "invalid_arguments", 0.0, "line 1, column 2"),
    "broken-definition-not-blamed": (
        calls(("weird", '{"a": 1}')), [{"name": "weird", "parameters": {"type": "objekt"}}], "ok", 1.0, "schema of 'weird' is invalid",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("tool_calls", "definitions", "label", "value", "snippet"), TOOL_CASES.values(), ids=TOOL_CASES.keys()
)
def test_tool_call_valid(
    tool_calls: list[ToolCall], definitions: list[dict[str, Any]], label: str, value: float, snippet: str | None
) -> None:
    subj = subject(tool_calls=tool_calls, tool_definitions=definitions, finish_reason="tool_calls")
    result = result_of("tool_call_valid", {}, subj)
    assert (result.label, result.value, result.passed) == (label, value, label == "ok"), result.explanation
    if snippet:
        assert snippet in result.explanation


def test_tool_call_valid_applies_only_with_tool_calls() -> None:
    assert run_check("tool_call_valid", {}, subject("hello", tool_definitions=TOOLS)) is None


# --- shared guarantees --------------------------------------------------------------------


def test_explanations_stay_short() -> None:
    long_claims = " ".join(f"The warranty lasts {n} years on model Z{n} [{n + 40}]." for n in range(60))
    docs = [Document(f"kb-{i}", "The warranty lasts 2 years on every model.") for i in range(4)]
    subj = subject(long_claims, documents=docs, expects_json=True)
    for kind in ("not_empty", "refusal", "json_valid", "citations", "grounding"):
        result = result_of(kind, {}, subj)
        assert len(result.explanation) <= 500, kind


def test_checks_return_plain_floats_and_bools() -> None:
    result = result_of("format", {"max_length": 1}, subject("xx"))
    assert type(result.value) is float and type(result.passed) is bool
