"""JSON checks: json_valid (the answer parses) and json_schema (it parses and fits a JSON Schema)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from apps.evaluators.checks.base import Check, CheckConfigError, clean_bool, clip, finish
from apps.evaluators.checks.patterns import PatternError, compile_user_pattern
from apps.evaluators.subject import CheckResult, Subject

# The whole answer is one fenced block, optionally tagged json.
WHOLE_FENCE_RE = re.compile(r"\A\s*(```|~~~)[ \t]*(?:json5?|JSON)?[ \t]*\r?\n(.*?)\r?\n?[ \t]*\1[ \t]*\s*\Z", re.S)
ANY_FENCE_RE = re.compile(r"```[ \t]*(?:json|JSON)\s*\n")
IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_ERRORS_SCANNED = 100


@dataclass(slots=True)
class ParsedJson:
    """The outcome of reading an answer as JSON."""

    ok: bool
    value: Any = None
    error: str = ""
    fenced: bool = False


def _reject_constant(name: str) -> Any:
    """Refuse NaN and Infinity, which Python accepts but JSON does not."""
    raise ValueError(f"{name} is not valid JSON")


def parse_json_text(text: str, *, allow_fenced: bool = True) -> ParsedJson:
    """Parse text as JSON (or the single fenced block it consists of); explain failures with line and column."""
    stripped = (text or "").strip()
    if not stripped:
        return ParsedJson(False, error="the answer is empty")
    fenced = False
    if allow_fenced and stripped[0] in "`~":
        fence = WHOLE_FENCE_RE.match(stripped)
        if fence:
            stripped, fenced = fence.group(2).strip(), True
    try:
        return ParsedJson(True, json.loads(stripped, parse_constant=_reject_constant), fenced=fenced)
    except json.JSONDecodeError as exc:
        where = " inside the fenced block" if fenced else ""
        error = f"{exc.msg} (line {exc.lineno}, column {exc.colno}{where})"
        if exc.pos == 0 and stripped[0].isalpha():
            error = f"the answer is prose, not JSON (it starts {clip(stripped, 40)!r})"
        else:
            error += f", near {clip(stripped[max(0, exc.pos - 25) : exc.pos + 15], 45)!r}"
        if not fenced and ANY_FENCE_RE.search(stripped):
            error += "; a ```json block is present but other text surrounds it" + (
                "" if allow_fenced else " (and allow_fenced is off)"
            )
        return ParsedJson(False, error=error, fenced=fenced)
    except ValueError as exc:
        return ParsedJson(False, error=str(exc), fenced=fenced)


def format_path(path: Iterable[Any], root: str = "$") -> str:
    """Render a jsonschema path as $.items[2].price."""
    out = [root]
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif IDENTIFIER_RE.match(str(part)):
            out.append(f".{part}")
        else:
            out.append(f"[{json.dumps(str(part), ensure_ascii=False)}]")
    return "".join(out)


def _matches(pattern: str, text: str) -> bool:
    """re.search for schema patterns, on RE2 (linear time, input capped) like every user pattern."""
    return compile_user_pattern(pattern).search(text) is not None


def _pattern(validator: Validator, pattern: str, instance: Any, schema: dict) -> Iterator[ValidationError]:
    """The `pattern` keyword (as jsonschema's, on RE2)."""
    if validator.is_type(instance, "string") and not _matches(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Validator, patterns: dict, instance: Any, schema: dict) -> Iterator[ValidationError]:
    """The `patternProperties` keyword (as jsonschema's, on RE2)."""
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _matches(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Validator, extra: Any, instance: Any, schema: dict) -> Iterator[ValidationError]:
    """The `additionalProperties` keyword (as jsonschema's, with patternProperties matched on RE2)."""
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = {k for k in instance if k not in properties and not any(_matches(p, k) for p in patterns)}
    if validator.is_type(extra, "object"):
        for key in extras:
            yield from validator.descend(instance[key], extra, path=key)
    elif not extra and extras:
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            shown = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {shown}")
        else:
            listed = ", ".join(repr(each) for each in sorted(extras, key=str))
            yield ValidationError(
                f"Additional properties are not allowed ({listed} {'was' if len(extras) == 1 else 'were'} unexpected)"
            )


_RE2_KEYWORDS = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
}


@lru_cache(maxsize=256)
def _cached_validator(schema_key: str, check_formats: bool) -> Validator:
    """Build a validator for a serialised schema once; its regex keywords run on RE2."""
    schema = json.loads(schema_key)
    cls = validators.extend(validator_for(schema, default=Draft202012Validator), _RE2_KEYWORDS)
    return cls(schema, format_checker=cls.FORMAT_CHECKER if check_formats else None)


def schema_patterns(schema: Any, path: str = "schema") -> Iterator[tuple[str, str]]:
    """Yield (where, pattern) for every `pattern` and `patternProperties` key in a schema."""
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from schema_patterns(item, f"{path}[{index}]")
    elif isinstance(schema, dict):
        for key, value in schema.items():
            where = f"{path}.{key}"
            if key == "pattern" and isinstance(value, str):
                yield where, value
            elif key == "patternProperties" and isinstance(value, dict):
                yield from ((f"{where}[{json.dumps(p)}]", p) for p in value)
            yield from schema_patterns(value, where)


def schema_key(schema: Any) -> str:
    """Return a canonical string for a schema, the validator cache key."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def schema_validator(schema: Any, *, check_formats: bool = True) -> Validator:
    """Return a (cached) validator for schema; Draft 2020-12 unless the schema names its own $schema."""
    return _cached_validator(schema_key(schema), check_formats)


def schema_problem(schema: Any) -> str | None:
    """Return why schema is not a valid JSON Schema, or None when it is (cached per schema)."""
    if not isinstance(schema, dict | bool):
        return "must be a JSON Schema object"
    try:
        key = schema_key(schema)
    except (TypeError, ValueError) as exc:
        return f"is not JSON-serialisable: {exc}"
    problem = _cached_schema_problem(key)
    if problem is None:
        for where, pattern in schema_patterns(schema):
            try:
                compile_user_pattern(pattern)
            except PatternError as exc:
                return f"{where}: {clip(str(exc), 200)}"
    return problem


@lru_cache(maxsize=256)
def _cached_schema_problem(key: str) -> str | None:
    """Check a serialised schema against its metaschema once."""
    schema = json.loads(key)
    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        return f"{format_path(exc.absolute_path, root='schema')}: {clip(exc.message, 200)}"
    return None


def schema_errors(validator: Validator, instance: Any, limit: int = 3) -> tuple[int, list[str]]:
    """Return (number of errors found, up to limit descriptions with the best match first)."""
    errors = list(islice(validator.iter_errors(instance), MAX_ERRORS_SCANNED))
    if not errors:
        return 0, []
    best = best_match(errors)
    seen: set[str] = set()
    described: list[str] = []
    for error in [best, *errors]:
        text = describe_error(error)
        if text not in seen:
            seen.add(text)
            described.append(text)
        if len(described) == limit:
            break
    return len(errors), described


def describe_error(error: ValidationError) -> str:
    """Render one validation error as '$.items[2].price: -1 is less than the minimum of 0'."""
    return f"{format_path(error.absolute_path)}: {clip(error.message, 140)}"


class JsonValidCheck(Check):
    """The answer parses as JSON (a single ```json fenced block is accepted when allow_fenced)."""

    kind = "json_valid"
    defaults = {"allow_fenced": True, "always": False}  # always: also when the request did not ask for JSON

    def clean(self, config: dict[str, Any]) -> dict[str, Any]:
        """Check option types."""
        clean_bool(config, "allow_fenced")
        clean_bool(config, "always")
        return config

    def applies(self, subject: Subject, config: Mapping[str, Any]) -> bool:
        """Apply when the request asked for JSON, or always when configured."""
        return subject.expects_json or bool(self.with_defaults(config)["always"])

    def run(self, subject: Subject, config: Mapping[str, Any]) -> CheckResult:
        """Return 1.0/"ok" when the answer parses, 0.0/"invalid_json" with the parse error otherwise."""
        config = self.with_defaults(config)
        parsed = parse_json_text(subject.output, allow_fenced=config["allow_fenced"])
        if not parsed.ok:
            return finish(0.0, False, "invalid_json", f"The answer is not valid JSON: {parsed.error}.")
        kind = type(parsed.value).__name__.replace("dict", "object").replace("list", "array")
        where = " (inside a ```json fence)" if parsed.fenced else ""
        return finish(1.0, True, "ok", f"The answer parses as a JSON {kind}{where}.")


class JsonSchemaCheck(Check):
    """The answer parses as JSON and validates against the configured JSON Schema."""

    kind = "json_schema"
    defaults: dict[str, Any] = {
        "schema": None,
        "allow_fenced": True,
        "always": True,  # the schema is explicit, so check every answer, not only JSON-mode requests
        "check_formats": True,  # assert "format" (email, date-time, …) where jsonschema can
    }

    def clean(self, config: dict[str, Any]) -> dict[str, Any]:
        """Require a valid JSON Schema (checked with the validator's check_schema)."""
        if config["schema"] is None:
            raise CheckConfigError("schema", "is required")
        problem = schema_problem(config["schema"])
        if problem:
            raise CheckConfigError("schema", problem)
        for field in ("allow_fenced", "always", "check_formats"):
            clean_bool(config, field)
        return config

    def applies(self, subject: Subject, config: Mapping[str, Any]) -> bool:
        """Apply to every answer unless always is off, then only to JSON-mode requests."""
        return subject.expects_json or bool(self.with_defaults(config)["always"])

    def run(self, subject: Subject, config: Mapping[str, Any]) -> CheckResult:
        """Return 1.0/"ok", 0.0/"invalid_json", or 0.0/"schema_violation" naming up to 3 failing paths."""
        config = self.with_defaults(config)
        parsed = parse_json_text(subject.output, allow_fenced=config["allow_fenced"])
        if not parsed.ok:
            return finish(0.0, False, "invalid_json", f"The answer is not valid JSON: {parsed.error}.")
        validator = schema_validator(config["schema"], check_formats=config["check_formats"])
        count, described = schema_errors(validator, parsed.value)
        if not count:
            return finish(1.0, True, "ok", "The answer matches the schema.")
        more = (
            f" ({count} errors{'+' if count >= MAX_ERRORS_SCANNED else ''}, first {len(described)} shown)"
            if count > len(described)
            else ""
        )
        return finish(0.0, False, "schema_violation", f"The answer breaks the schema{more}: " + "; ".join(described))
