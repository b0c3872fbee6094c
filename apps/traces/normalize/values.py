"""Attribute value helpers shared by every family: coercion, JSON-in-a-string, alias picking, unflattening."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from apps.traces import genai_aliases as A

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ZERO16 = bytes(16)
ZERO8 = bytes(8)
# Span times are kept within 1970..2100: a later one (OTLP times are unsigned, so only the upper edge can be
# crossed) is clamped to MAX_TIME and the span flagged, instead of being stored as, say, the year 2554.
MAX_TIME = datetime(2100, 1, 1, tzinfo=UTC)
MAX_TIME_NS = int((MAX_TIME - EPOCH).total_seconds()) * 1_000_000_000
# Deepest nesting kept in an attribute value or parsed JSON. Real GenAI content nests about ten deep; the
# cap keeps every later recursive walk (json.dumps, orjson's 254 levels, the API's renderer) well inside
# its limit, where JSON nested 2,000 deep raised RecursionError and lost the whole batch.
MAX_DEPTH = 64
_BRACKETS = re.compile(r"[\[\]{}]")
# How many JSON strings json_maybe has kept unparsed because they nest deeper than MAX_DEPTH (process-wide,
# a plain int: cheaper than a thread-local). normalize_span compares it before and after a span; another
# thread's increment at worst costs a scan that finds nothing.
_too_deep_total = 0


def ns_to_dt(ns: int) -> datetime:
    """Convert Unix nanoseconds to an aware UTC datetime (microsecond precision, exact)."""
    return EPOCH + timedelta(microseconds=ns // 1000)


def ns_to_iso(ns: int) -> str:
    """Convert Unix nanoseconds to an ISO-8601 UTC string ("" when unset)."""
    return ns_to_dt(ns).isoformat() if ns else ""


def json_too_deep(text: str) -> bool:
    """Return True when the brackets of text nest deeper than MAX_DEPTH (strings not skipped: a JSON string
    inside JSON counts too, and a false alarm only keeps the text unparsed)."""
    if len(text) <= 2 * MAX_DEPTH or text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth = 0
    for m in _BRACKETS.finditer(text):
        if m.group() in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False


def json_too_deep_count() -> int:
    """Return how many JSON strings this thread has kept unparsed for nesting too deep."""
    return _too_deep_total


def json_maybe(value: Any) -> Any:
    """Parse value when it is a string holding a JSON object/array/string, else return it unchanged.

    JSON nested deeper than MAX_DEPTH is returned unparsed. orjson parses first (twice as fast); what it
    refuses (NaN, integers past 64 bits, lone surrogates) goes to json.loads, whose answer stays the rule.
    """
    if isinstance(value, str) and value:
        c = value[0]
        if c in '[{"' or (c.isspace() and value.lstrip()[:1] in ("[", "{")):
            if json_too_deep(value):
                global _too_deep_total
                _too_deep_total += 1
                return value
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
            try:
                return json.loads(value)
            except (ValueError, RecursionError):
                return value
    return value


def keep_if_too_deep(a: dict[str, Any], key: str, value: Any) -> None:
    """Put an attribute back when json_maybe left it unparsed for nesting too deep: the raw text is kept."""
    if isinstance(value, str) and json_too_deep(value):
        a[key] = value


def to_int(value: Any) -> int | None:
    """Coerce an int/float/numeric string to int; anything else (bool, NaN, garbage) is None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        s = value.strip()
        try:
            return int(s)
        except ValueError:
            try:
                f = float(s)
            except ValueError:
                return None
            return int(f) if math.isfinite(f) else None
    return None


def to_float(value: Any) -> float | None:
    """Coerce a number or numeric string to a finite float, else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        f = float(value)
    elif isinstance(value, str):
        try:
            f = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return f if math.isfinite(f) else None


def to_str(value: Any) -> str:
    """Render a value as text: strings as-is, structures as compact JSON, None as ""."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def pick(a: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """Pop and return the first non-empty value among keys; aliases with the same value are popped too."""
    for i, key in enumerate(keys):
        value = a.get(key)
        if value is not None and value != "" and value != []:
            del a[key]
            for other in keys[i + 1 :]:
                if other in a and a[other] == value:
                    del a[other]
            return value
    return None


def normalize_provider(value: Any) -> str:
    """Map a provider / legacy gen_ai.system value onto the OTel provider vocabulary."""
    low = to_str(value).strip().lower()
    return A.PROVIDER_ALIASES.get(low, low)


def normalize_finish_reason(value: Any) -> str:
    """Map a vendor finish reason (tool_calls, end_turn, MAX_TOKENS...) onto the OTel vocabulary."""
    low = to_str(value).strip().lower()
    return A.FINISH_REASON_ALIASES.get(low, low)


def as_str_list(value: Any) -> list[str]:
    """Read a list attribute given as a list, a JSON array string or a comma-separated string."""
    value = json_maybe(value)
    if isinstance(value, list):
        return [to_str(v).strip() for v in value if v is not None and to_str(v).strip()]
    if isinstance(value, str):
        return [s.strip() for s in value.split(",") if s.strip()]
    if value is None:
        return []
    return [to_str(value)]


# -- flattened attributes (OpenInference, OpenLLMetry <=0.54) -------------------------------------


def unflatten(items: list[tuple[str, Any]]) -> list[Any]:
    """Rebuild a list from ('{i}.a.b', value) pairs; numeric segments become (compacted) lists."""
    root: dict[str, Any] = {}
    for path, value in items:
        segs = path.split(".")
        node = root
        for seg in segs[:-1]:
            nxt = node.get(seg)
            if nxt is None:
                nxt = node[seg] = {}
            elif not isinstance(nxt, dict):
                break  # a leaf already sits here: ignore the conflicting deeper key
            node = nxt
        else:
            if not isinstance(node.get(segs[-1]), dict):
                node[segs[-1]] = value
    result = _listify(root)
    return result if isinstance(result, list) else []


def _listify(node: Any) -> Any:
    """Turn dicts whose keys are all digits into lists ordered by index (gaps dropped)."""
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_listify(node[k]) for k in sorted(node, key=int)]
        return {k: _listify(v) for k, v in node.items()}
    return node
