"""Values PostgreSQL would refuse, made storable: NUL characters, and the warnings that say what changed.

PostgreSQL refuses "\\x00" in text and "\\u0000" in jsonb, and one such value fails the whole COPY. So every
value is cleaned at normalisation, and the span lists what was changed (NUL stripped, JSON too deep to
parse, nesting cut, a time clamped) in the reserved attribute WARNINGS_ATTR. Public helpers for other
ingest paths: strip_nul (one string), strip_nul_deep (any JSON-like value), sanitize_span (a span built
without normalize_span).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from apps.traces.normalize.model import NormalizedSpan
from apps.traces.normalize.values import EPOCH, MAX_TIME

# A reserved attribute: a list of short strings "<what>:<where>", e.g. "nul_stripped:gen_ai.input.messages".
WARNINGS_ATTR = "sightline.ingest.warnings"
_WALK_LIMIT = 512  # a walk stops here rather than hit the recursion limit on input from elsewhere

_STR_FIELDS = tuple(f.name for f in fields(NormalizedSpan) if f.type == "str")
_JSON_FIELDS = tuple(f.name for f in fields(NormalizedSpan) if f.type.startswith(("list", "dict")))


def strip_nul(text: str) -> str:
    """Return text without NUL characters (PostgreSQL text and jsonb refuse them)."""
    return text.replace("\x00", "") if "\x00" in text else text


def strip_nul_deep(value: Any) -> tuple[Any, bool]:
    """Return value with NUL removed from every string and dict key inside it, and whether anything changed.

    Unchanged containers are returned as they are (no copy); changed ones are rebuilt, never edited in place,
    since a resource dict is shared by all spans of a request.
    """
    return _strip(value, 0)


def _strip(value: Any, depth: int) -> tuple[Any, bool]:
    if type(value) is str:
        return (value.replace("\x00", ""), True) if "\x00" in value else (value, False)
    if depth >= _WALK_LIMIT:
        return value, False
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        changed = False
        for key, item in value.items():
            new, item_changed = _strip(item, depth + 1)
            if type(key) is str and "\x00" in key:
                key, item_changed = key.replace("\x00", ""), True
            out[key] = new
            changed = changed or item_changed
        return (out, True) if changed else (value, False)
    if isinstance(value, list | tuple):
        items = []
        changed = False
        for item in value:
            new, item_changed = _strip(item, depth + 1)
            items.append(new)
            changed = changed or item_changed
        if not changed:
            return value, False
        return (tuple(items) if isinstance(value, tuple) else items), True
    if isinstance(value, str):  # a str subclass
        return _strip(str(value), depth)
    return value, False


def has_nul_deep(value: Any, depth: int = 0) -> bool:
    """Return True when any string or dict key inside value holds a NUL or a JSON "\\u0000" escape."""
    if type(value) is str:
        return "\x00" in value or ("\\" in value and "\\u0000" in value)  # memchr before the slow search
    if depth >= _WALK_LIMIT:
        return False
    if isinstance(value, dict):
        return any((type(k) is str and "\x00" in k) or has_nul_deep(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul_deep(v, depth + 1) for v in value)
    return False


def span_strip_nul(span: NormalizedSpan) -> list[str]:
    """Strip NUL from every text and JSON field of span in place; return the names of the fields changed."""
    changed = []
    for name in _STR_FIELDS:
        value = getattr(span, name)
        if "\x00" in value:
            setattr(span, name, value.replace("\x00", ""))
            changed.append(name)
    for name in _JSON_FIELDS:
        new, field_changed = _strip(getattr(span, name), 0)
        if field_changed:
            setattr(span, name, new)
            changed.append(name)
    return changed


def add_warnings(attributes: dict[str, Any], warnings: list[str]) -> None:
    """Record warnings (deduplicated, in order) in the reserved attribute."""
    if warnings:
        attributes[WARNINGS_ATTR] = list(dict.fromkeys(warnings))


# Spans of one request share one resource dict: check it once (keyed by identity, as context.py does).
_resource_cache: dict[int, tuple[dict[str, Any], bool]] = {}


def resource_has_nul(resource: dict[str, Any]) -> bool:
    """Return has_nul_deep(resource), cached per resource object."""
    hit = _resource_cache.get(id(resource))
    if hit is not None and hit[0] is resource:
        return hit[1]
    dirty = has_nul_deep(resource)
    if len(_resource_cache) >= 256:
        _resource_cache.clear()
    _resource_cache[id(resource)] = (resource, dirty)
    return dirty


def settle_warnings(span: NormalizedSpan, warnings: list[str]) -> None:
    """Strip NUL from every field of span and make warnings say so, then record them all on the span.

    A "nul_escape:<key>" warning (a JSON "\\u0000" escape in a raw value) becomes "nul_stripped:<key>"
    when the parsed content really held a NUL, and is dropped when nothing changed (an escaped backslash
    followed by "u0000" is plain text). A change no warning explains is named by its field.
    """
    changed = span_strip_nul(span)
    settled = []
    for warning in warnings:
        if warning.startswith("nul_escape:"):
            if changed:
                settled.append("nul_stripped:" + warning[len("nul_escape:") :])
        else:
            settled.append(warning)
    if changed and not any(w.startswith("nul_stripped:") for w in settled):
        settled.extend(f"nul_stripped:{name}" for name in changed)
    add_warnings(span.attributes, settled)


def sanitize_span(span: NormalizedSpan) -> None:
    """Make a span built outside normalize_span (the native REST path) storable: strip NUL, keep its times
    within 1970..2100, and record what changed."""
    warnings = [f"nul_stripped:{name}" for name in span_strip_nul(span)]
    for name, which in (("started_at", "start"), ("ended_at", "end")):
        when = getattr(span, name)
        if not EPOCH <= when <= MAX_TIME:
            setattr(span, name, min(max(when, EPOCH), MAX_TIME))
            warnings.append(f"timestamp_clamped:{which}")
    if any(w.startswith("timestamp_clamped:") for w in warnings):
        span.latency_ms = max((span.ended_at - span.started_at).total_seconds() * 1000.0, 0.0)
    add_warnings(span.attributes, warnings)
