"""One OTLP span (or GenAI log record) to one normalized span, across the four GenAI emitter families.

Pure Python, no Django. Families: OTel GenAI (current and legacy names), OpenLLMetry (>=0.55 JSON
attributes and <=0.54 indexed `gen_ai.prompt.{i}.*`), OpenInference (flattened `llm.*`) and Langfuse
(`langfuse.*`). Resolution order follows /work/shared/otel-genai.md section 5.1; alias tables live in
genai_aliases.py. Attribute dicts are consumed with pop(): whatever is left becomes `attributes`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apps.traces import genai_aliases as A
from apps.traces.otlp import INVALID_ID_ATTR, RawLogRecord, RawSpan, any_value_to_python, attributes_to_dict

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO16 = bytes(16)
_ZERO8 = bytes(8)
SLOT_CAP = 10_000  # highest accepted index in flattened `prefix.{i}.*` keys (Langfuse caps at 10,001)

_STATUS = {0: "unset", 1: "ok", 2: "error"}
_USAGE_KEYS = frozenset(k for aliases in A.USAGE_ALIASES.values() for k in aliases)
_COST_KEYS = frozenset(A.COST_INPUT_KEYS + A.COST_OUTPUT_KEYS + A.COST_TOTAL_KEYS)

# Content attributes parsed as JSON; they are truncated after parsing (inside the text parts) so a
# long conversation stays valid JSON instead of being cut mid-string.
_JSON_CONTENT_KEYS = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
        "gen_ai.retrieval.documents",
        "gen_ai.prompt",
        "gen_ai.completion",
        "langfuse.observation.input",
        "langfuse.observation.output",
    }
)

# Flattened families: prefix -> family tag. Only `prefix.{int}.*` keys belong to a family, which
# keeps `gen_ai.prompt.prompt_filter_results` and MCP's `gen_ai.prompt.name` out of the messages.
_FLAT_FAMILIES = {
    "llm.input_messages.": "oi_in",
    "llm.output_messages.": "oi_out",
    "gen_ai.prompt.": "ol_in",
    "gen_ai.completion.": "ol_out",
    "llm.prompts.": "oi_prompts",
    "llm.choices.": "oi_choices",
    "retrieval.documents.": "oi_docs",
    "reranker.output_documents.": "rr_docs",
    "llm.tools.": "oi_tools",
    "llm.request.functions.": "ol_tools",
    "evaluations.": "oi_evals",
    "annotations.": "oi_annots",
}
_FLAT_PREFIXES = tuple(_FLAT_FAMILIES)
assert all(p.count(".") <= 3 for p in _FLAT_PREFIXES)  # the scan looks prefixes up by up to 3 segments
_SCAN_PREFIXES = _FLAT_PREFIXES + A.REQUEST_PARAM_PREFIXES + ("gen_ai.retrieval.",)
_KEEP_FAMILIES = frozenset({"oi_evals", "oi_annots"})  # parsed, but the keys also stay in attributes

_LEGACY_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
EVALUATION_EVENT = "gen_ai.evaluation.result"


class SpanRejected(Exception):
    """A single span (or log record) that cannot be stored; the message says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class NormalizedSpan:
    """One OTLP span mapped onto Sightline's emitter-independent span model."""

    trace_id: str
    span_id: str
    parent_span_id: str = ""
    is_root: bool = True
    name: str = ""
    kind: str = "other"
    operation: str = ""
    started_at: datetime = _EPOCH
    ended_at: datetime = _EPOCH
    latency_ms: float = 0.0
    status: str = "unset"
    error_type: str = ""
    error_message: str = ""
    model: str = ""
    model_requested: str = ""
    model_responded: str = ""
    provider: str = ""
    prompt_name: str = ""
    prompt_version: str = ""
    route: str = ""
    environment: str = ""
    release: str = ""
    user_id: str = ""
    session_id: str = ""
    tags: list[str] = field(default_factory=list)
    trace_name: str = ""
    system_instructions: str = ""
    input_messages: list[dict[str, Any]] = field(default_factory=list)
    output_messages: list[dict[str, Any]] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)
    tool_definitions: list[Any] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    retrieval_query: str = ""
    documents: list[dict[str, Any]] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_input: float | None = None
    cost_output: float | None = None
    cost_total: float | None = None
    cost_source: str = ""
    request_params: dict[str, Any] = field(default_factory=dict)
    raw_input: str = ""
    raw_output: str = ""
    input_text: str = ""
    output_text: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    scope: dict[str, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    dropped_attributes_count: int = 0


@dataclass(slots=True)
class LogContent:
    """Message content carried by a GenAI log event, to be attached to its span."""

    trace_id: str
    span_id: str
    time: datetime
    input_messages: list[dict[str, Any]] = field(default_factory=list)
    output_messages: list[dict[str, Any]] = field(default_factory=list)
    system_instructions: str = ""
    # True for the legacy one-message-per-event records: merge appends instead of filling once.
    append: bool = False


@dataclass(slots=True)
class LogEvaluation:
    """One `gen_ai.evaluation.result` event."""

    trace_id: str
    span_id: str
    name: str
    score: float | None
    label: str
    explanation: str
    response_id: str


# -- small value helpers ------------------------------------------------------------------------


def _ns_to_dt(ns: int) -> datetime:
    """Convert Unix nanoseconds to an aware UTC datetime (microsecond precision, exact)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _ns_to_iso(ns: int) -> str:
    """Convert Unix nanoseconds to an ISO-8601 UTC string ("" when unset)."""
    return _ns_to_dt(ns).isoformat() if ns else ""


def _json_maybe(value: Any) -> Any:
    """Parse value when it is a string holding a JSON object/array/string, else return it unchanged."""
    if isinstance(value, str) and value:
        c = value[0]
        if c in '[{"' or (c.isspace() and value.lstrip()[:1] in ("[", "{")):
            try:
                return json.loads(value)
            except ValueError:
                return value
    return value


def _to_int(value: Any) -> int | None:
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


def _to_float(value: Any) -> float | None:
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


def _to_str(value: Any) -> str:
    """Render a value as text: strings as-is, structures as compact JSON, None as ""."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _pick(a: dict[str, Any], keys: tuple[str, ...]) -> Any:
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


def _pick_ctx(a: dict[str, Any], keys: tuple[str, ...], resource_hit: tuple[int, str] | None) -> str:
    """Return the first non-empty value among keys, checking the span then the resource per key."""
    limit = resource_hit[0] + 1 if resource_hit else len(keys)
    for key in keys[:limit]:
        value = a.get(key)
        if value is not None and value != "":
            del a[key]
            return _to_str(value)
    return resource_hit[1] if resource_hit else ""


_CTX_FIELDS = (
    ("route", A.ROUTE_KEYS),
    ("prompt_name", A.PROMPT_NAME_KEYS),
    ("prompt_version", A.PROMPT_VERSION_KEYS),
    ("environment", A.ENVIRONMENT_KEYS),
    ("release", A.RELEASE_KEYS),
    ("user_id", A.USER_KEYS),
    ("session_id", A.SESSION_KEYS),
    ("trace_name", A.TRACE_NAME_KEYS),
)
_CTX_KEYS = frozenset(k for _, keys in _CTX_FIELDS for k in keys) | frozenset(A.TAG_KEYS)
# Spans of one request share one resource dict: resolve its context once (keyed by identity).
_resource_cache: dict[int, tuple[dict[str, Any], dict[str, tuple[int, str]], list[str]]] = {}


def _resource_context(resource: dict[str, Any]) -> tuple[dict[str, tuple[int, str]], list[str]]:
    """Return {field: (alias index, value)} and the tags found on a resource, cached per resource object."""
    hit = _resource_cache.get(id(resource))
    if hit is not None and hit[0] is resource:
        return hit[1], hit[2]
    found: dict[str, tuple[int, str]] = {}
    for fname, keys in _CTX_FIELDS:
        for i, key in enumerate(keys):
            value = resource.get(key)
            if value is not None and value != "":
                found[fname] = (i, _to_str(value))
                break
    tags: list[str] = []
    for key in A.TAG_KEYS:
        for tag in _as_str_list(resource.get(key)):
            if tag not in tags:
                tags.append(tag)
    if len(_resource_cache) >= 256:
        _resource_cache.clear()
    _resource_cache[id(resource)] = (resource, found, tags)
    return found, tags


def _normalize_provider(value: Any) -> str:
    """Map a provider / legacy gen_ai.system value onto the OTel provider vocabulary."""
    low = _to_str(value).strip().lower()
    return A.PROVIDER_ALIASES.get(low, low)


def _openinference_provider(provider: Any, system: Any) -> str:
    """Combine OpenInference llm.provider (host) and llm.system (vendor) into one OTel provider."""
    p = _to_str(provider).strip().lower()
    s = _to_str(system).strip().lower()
    if p == "azure":
        return "azure.ai.openai" if s in ("", "openai") else "azure.ai.inference"
    if p == "aws":
        return "aws.bedrock"
    if p == "google":
        return "gcp.vertex_ai" if s in ("vertexai", "vertex_ai") else "gcp.gen_ai"
    if p:
        return A.PROVIDER_ALIASES.get(p, p)
    return A.PROVIDER_ALIASES.get(s, s)


def _normalize_finish_reason(value: Any) -> str:
    """Map a vendor finish reason (tool_calls, end_turn, MAX_TOKENS...) onto the OTel vocabulary."""
    low = _to_str(value).strip().lower()
    return A.FINISH_REASON_ALIASES.get(low, low)


def _as_str_list(value: Any) -> list[str]:
    """Read a list attribute given as a list, a JSON array string or a comma-separated string."""
    value = _json_maybe(value)
    if isinstance(value, list):
        return [_to_str(v).strip() for v in value if v is not None and _to_str(v).strip()]
    if isinstance(value, str):
        return [s.strip() for s in value.split(",") if s.strip()]
    if value is None:
        return []
    return [_to_str(value)]


# -- flattened attributes ------------------------------------------------------------------------


def _unflatten(items: list[tuple[str, Any]]) -> list[Any]:
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


# -- message canonicalization (OTel GenAI parts shape) -------------------------------------------

_MSG_KNOWN_KEYS = frozenset(
    {
        "role",
        "parts",
        "content",
        "name",
        "finish_reason",
        "tool_calls",
        "tool_call_id",
        "function_call",
        "refusal",
        "id",
        "index",
        "message",
    }
)


def _parse_args(value: Any) -> Any:
    """Parse tool-call arguments given as a JSON object/array string; keep anything else as-is."""
    parsed = _json_maybe(value)
    return parsed if isinstance(parsed, dict | list) else value


def _image_part(url: str, mime: str = "") -> dict[str, Any]:
    """Build a uri or blob image part from a URL or a data: URL."""
    if url.startswith("data:") and "," in url:
        header, _, data = url.partition(",")
        part: dict[str, Any] = {"type": "blob", "modality": "image", "content": data}
        mime = mime or header[5:].split(";")[0]
        if mime:
            part["mime_type"] = mime
        return part
    part = {"type": "uri", "modality": "image", "uri": url}
    if mime:
        part["mime_type"] = mime
    return part


def _canon_part(p: Any) -> dict[str, Any] | None:
    """Convert one content item (OTel part, OpenAI/Anthropic/OpenInference content block) to an OTel part."""
    if isinstance(p, str):
        return {"type": "text", "content": p}
    if not isinstance(p, dict):
        return None if p is None else {"type": "text", "content": _to_str(p)}
    t = p.get("type")
    if t in ("text", "input_text", "output_text") or (t is None and "text" in p):
        content = p.get("content")
        if content is None:
            content = p.get("text", "")
        return {"type": "text", "content": _to_str(content)}
    if t == "tool_call":
        if isinstance(p.get("arguments"), str):
            p = {**p, "arguments": _parse_args(p["arguments"])}
        return p
    if t == "tool_call_response":
        if "response" not in p and "result" in p:
            p = {**p, "response": p["result"]}
        return p
    if t == "image_url":
        iu = p.get("image_url")
        url = iu.get("url", "") if isinstance(iu, dict) else _to_str(iu)
        return _image_part(url)
    if t == "image":
        img = p.get("image")
        if isinstance(img, dict):  # OpenInference: image.image.url
            inner = img.get("image") if isinstance(img.get("image"), dict) else img
            return _image_part(_to_str(inner.get("url", "")))
        src = p.get("source")
        if isinstance(src, dict):  # Anthropic
            if src.get("type") == "base64":
                part = {"type": "blob", "modality": "image", "content": _to_str(src.get("data", ""))}
                if src.get("media_type"):
                    part["mime_type"] = src["media_type"]
                return part
            return _image_part(_to_str(src.get("url", "")))
        return p
    if t == "tool_use":
        return {
            "type": "tool_call",
            "id": p.get("id", ""),
            "name": p.get("name", ""),
            "arguments": _parse_args(p.get("input")),
        }
    if t == "tool_result":
        return {"type": "tool_call_response", "id": p.get("tool_use_id", ""), "response": p.get("content")}
    if t == "thinking":
        return {"type": "reasoning", "content": _to_str(p.get("thinking", ""))}
    return p


def _content_to_parts(content: Any) -> list[dict[str, Any]]:
    """Convert a message `content` (string, JSON-stringified block list, list, dict) to parts."""
    if content is None or content == "":
        return []
    if isinstance(content, str):
        if content[:1] == "[":  # OpenLLMetry <=0.54 JSON-stringifies list content
            parsed = _json_maybe(content)
            if isinstance(parsed, list) and parsed and all(isinstance(x, dict) and "type" in x for x in parsed):
                content = parsed
            else:
                return [{"type": "text", "content": content}]
        else:
            return [{"type": "text", "content": content}]
    if isinstance(content, dict):
        content = [content] if ("type" in content or "text" in content) else [_to_str(content)]
    if isinstance(content, list):
        parts = []
        for item in content:
            part = _canon_part(item)
            if part is not None:
                parts.append(part)
        return parts
    return [{"type": "text", "content": _to_str(content)}]


def _tool_call_part(tc: Any) -> dict[str, Any] | None:
    """Convert an OpenAI-style ({function:{name,arguments}}) or flat tool call to a tool_call part."""
    if not isinstance(tc, dict):
        return None
    fn = tc.get("function")
    if isinstance(fn, dict):
        name, args = fn.get("name", ""), fn.get("arguments")
    else:
        name, args = tc.get("name", ""), tc.get("arguments")
    part: dict[str, Any] = {"type": "tool_call", "id": _to_str(tc.get("id", "")), "name": _to_str(name)}
    part["arguments"] = _parse_args(args)
    return part


def _canon_message(m: dict[str, Any], default_role: str) -> dict[str, Any]:
    """Convert one message in any known shape to {"role", "parts", "name"?, "finish_reason"?}."""
    role = _to_str(m.get("role") or default_role)
    raw_parts = m.get("parts")
    if isinstance(raw_parts, list):
        parts = [p for p in map(_canon_part, raw_parts) if p is not None]
    else:
        content = m.get("content")
        if (role == "tool" or m.get("tool_call_id")) and content is not None and not isinstance(content, list):
            parts = [
                {
                    "type": "tool_call_response",
                    "id": _to_str(m.get("tool_call_id") or m.get("id") or ""),
                    "response": _json_maybe(content) if isinstance(content, str) else content,
                }
            ]
        else:
            parts = _content_to_parts(content)
        if m.get("refusal"):
            parts.append({"type": "refusal", "content": _to_str(m["refusal"])})
        tcs = _json_maybe(m.get("tool_calls"))
        if isinstance(tcs, list):
            for tc in tcs:
                part = _tool_call_part(tc)
                if part is not None:
                    parts.append(part)
        fc = _json_maybe(m.get("function_call"))
        if isinstance(fc, dict):
            parts.append(_tool_call_part(fc) or {})
    out: dict[str, Any] = {"role": role, "parts": parts}
    if m.get("name"):
        out["name"] = _to_str(m["name"])
    if m.get("finish_reason"):
        out["finish_reason"] = _normalize_finish_reason(m["finish_reason"])
    if len(m) > 2:
        for key, value in m.items():
            if key not in _MSG_KNOWN_KEYS and key not in out:
                out[key] = _json_maybe(value)
    return out


def _canon_messages(value: Any, default_role: str = "user", *, strict: bool = False) -> list[dict[str, Any]]:
    """Convert a JSON string / list / dict of messages to canonical messages; [] when not message-like.

    strict (used for free-form Langfuse input/output) requires every item to be a dict with a role.
    """
    v = _json_maybe(value)
    if isinstance(v, dict):
        if isinstance(v.get("messages"), list):
            v = v["messages"]
        elif "role" in v or "parts" in v:
            v = [v]
        else:
            return []
    if not isinstance(v, list) or not v:
        return []
    if strict and not all(isinstance(m, dict) and "role" in m for m in v):
        return []
    out = []
    for m in v:
        if isinstance(m, dict):
            if "role" in m or "parts" in m or "content" in m or "tool_calls" in m:
                out.append(_canon_message(m, default_role))
        elif isinstance(m, str) and not strict:
            out.append({"role": default_role, "parts": [{"type": "text", "content": m}]})
    return out


def _instructions_parts(value: Any) -> list[dict[str, Any]]:
    """Read gen_ai.system_instructions (parts list, JSON string or plain text) as parts."""
    v = _json_maybe(value)
    if isinstance(v, list):
        return [p for p in map(_canon_part, v) if p is not None]
    if isinstance(v, dict):
        part = _canon_part(v)
        return [part] if part else []
    if isinstance(v, str) and v:
        return [{"type": "text", "content": v}]
    return []


def _parts_text(parts: list[dict[str, Any]]) -> str:
    """Join the text parts of a message."""
    texts = [p.get("content", "") for p in parts if p.get("type") == "text"]
    return "\n".join(t if isinstance(t, str) else _to_str(t) for t in texts)


def _message_text(msg: dict[str, Any]) -> str:
    """Plain text of a message: its text parts, else a rendering of its tool calls / responses."""
    parts = msg.get("parts") or []
    text = _parts_text(parts)
    if text:
        return text
    rendered = []
    for p in parts:
        t = p.get("type")
        if t == "tool_call":
            rendered.append(f"{p.get('name', '')}({_to_str(p.get('arguments'))})")
        elif t == "tool_call_response":
            rendered.append(_to_str(p.get("response")))
    return "\n".join(rendered)


def _input_text(messages: list[dict[str, Any]]) -> str:
    """Text of the last user message (else the last message)."""
    for msg in reversed(messages):
        if msg.get("role") == "user":
            return _message_text(msg)
    return _message_text(messages[-1]) if messages else ""


def _output_text(messages: list[dict[str, Any]]) -> str:
    """Text of the output messages, one per choice."""
    return "\n\n".join(t for t in map(_message_text, messages) if t)


def _system_text(messages: list[dict[str, Any]]) -> str:
    """Text of the system/developer messages."""
    return "\n".join(_parts_text(m.get("parts") or []) for m in messages if m.get("role") in ("system", "developer"))


def _cap_messages(messages: list[dict[str, Any]], cap: int) -> bool:
    """Truncate over-long string content inside message parts in place; return True if any was cut."""
    cut = False
    for msg in messages:
        for part in msg.get("parts") or ():
            for key in ("content", "response", "arguments"):
                value = part.get(key)
                if isinstance(value, str) and len(value) > cap:
                    part[key] = value[:cap]
                    cut = True
    return cut


def _legacy_event_message(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Convert a legacy gen_ai.{system,user,assistant,tool}.message / gen_ai.choice body to a message."""
    if name == "gen_ai.choice":
        msg = _json_maybe(body.get("message"))
        m = dict(msg) if isinstance(msg, dict) else {k: body[k] for k in ("content", "tool_calls", "role") if k in body}
        if body.get("finish_reason"):
            m["finish_reason"] = body["finish_reason"]
        return _canon_message(m, "assistant")
    role = _LEGACY_EVENT_ROLES[name]
    m = {k: v for k, v in body.items() if k not in ("gen_ai.system", "gen_ai.provider.name")}
    if role == "tool" and "tool_call_id" not in m and "id" in m:
        m["tool_call_id"] = m.pop("id")
    m.setdefault("role", role)
    return _canon_message(m, role)


def _event_body(attrs: dict[str, Any]) -> dict[str, Any]:
    """Return the message body of a legacy event recorded as a span event (attributes or a JSON body)."""
    for key in ("gen_ai.event.content", "event.body", "body"):
        if key in attrs:
            body = _json_maybe(attrs.pop(key))
            if isinstance(body, dict):
                return body
            return {"content": body}
    body = {}
    for key in ("content", "role", "tool_calls", "id", "tool_call_id", "message", "finish_reason", "index", "name"):
        if key in attrs:
            body[key] = _json_maybe(attrs.pop(key))
    return body


# -- documents, tools, evaluations ------------------------------------------------------------------


def _document(d: Any) -> dict[str, Any] | None:
    """Normalize a retrieval document to {"id","content","score","metadata"}."""
    if isinstance(d, dict) and isinstance(d.get("document"), dict):
        d = d["document"]
    if not isinstance(d, dict):
        return None if d is None else {"id": "", "content": _to_str(d), "score": None, "metadata": {}}
    meta = _json_maybe(d.get("metadata"))
    metadata = dict(meta) if isinstance(meta, dict) else ({} if meta is None else {"metadata": meta})
    for key, value in d.items():
        if key not in ("id", "content", "score", "metadata", "page_content", "text", "document"):
            metadata[key] = value
    content = d.get("content")
    if content is None:
        content = d.get("page_content", d.get("text", d.get("document")))
    return {
        "id": _to_str(d.get("id", "")),
        "content": _to_str(content),
        "score": _to_float(d.get("score")),
        "metadata": metadata,
    }


def _tool_definition(t: Any) -> Any:
    """Normalize a tool definition to the OTel shape {"type","name","description"?,"parameters"?}."""
    t = _json_maybe(t)
    if isinstance(t, dict):
        if isinstance(t.get("tool"), dict):  # OpenInference llm.tools.{i}.tool.json_schema
            t = _json_maybe(t["tool"].get("json_schema", t["tool"]))
        if isinstance(t, dict) and isinstance(t.get("function"), dict):
            fn = t["function"]
            out = {"type": t.get("type", "function"), **fn}
            return out
        if isinstance(t, dict) and "type" not in t and "name" in t:
            t = {"type": "function", **t}
            if "parameters" in t:
                t["parameters"] = _json_maybe(t["parameters"])
    return t


def _evaluation(entry: Any) -> dict[str, Any] | None:
    """Normalize an OpenInference evaluations.{i}.evaluation / annotations.{i}.annotation entry."""
    if not isinstance(entry, dict):
        return None
    e = entry.get("evaluation") or entry.get("annotation") or entry
    if not isinstance(e, dict) or not e.get("name"):
        return None
    return {
        "name": _to_str(e.get("name")),
        "score": _to_float(e.get("score")),
        "label": _to_str(e.get("label")),
        "explanation": _to_str(e.get("explanation")),
    }


# -- usage and cost -----------------------------------------------------------------------------------


def _langfuse_usage(d: dict[str, Any]) -> dict[str, int | None]:
    """Convert Langfuse usage_details (disjoint buckets) to OTel-inclusive counts."""
    ints = {k: n for k, v in d.items() if (n := _to_int(v)) is not None}
    out: dict[str, int | None] = {}
    cache_read = next((ints[k] for k in A.LANGFUSE_CACHE_READ_KEYS if k in ints), None)
    cache_write = next((ints[k] for k in A.LANGFUSE_CACHE_WRITE_KEYS if k in ints), None)
    reasoning = next((ints[k] for k in A.LANGFUSE_REASONING_KEYS if k in ints), None)
    if "input" in ints or "output" in ints:
        if "input" in ints:
            extra = sum(v for k, v in ints.items() if k.startswith("input_"))
            extra += sum(
                ints[k]
                for k in A.LANGFUSE_CACHE_READ_KEYS + A.LANGFUSE_CACHE_WRITE_KEYS
                if k in ints and not k.startswith("input_")
            )
            out["input_tokens"] = ints["input"] + extra
        if "output" in ints:
            extra = sum(v for k, v in ints.items() if k.startswith("output_"))
            extra += sum(ints[k] for k in A.LANGFUSE_REASONING_KEYS if k in ints and not k.startswith("output_"))
            out["output_tokens"] = ints["output"] + extra
        out["total_tokens"] = ints.get("total")
    else:  # OpenAI-style inclusive names
        out["input_tokens"] = ints.get("prompt_tokens", ints.get("input_tokens"))
        out["output_tokens"] = ints.get("completion_tokens", ints.get("output_tokens"))
        out["total_tokens"] = ints.get("total_tokens", ints.get("total"))
    out["cache_read_tokens"] = cache_read
    out["cache_write_tokens"] = cache_write
    out["reasoning_tokens"] = reasoning
    return out


def _langfuse_cost(d: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """Sum Langfuse cost_details buckets into (input, output, total)."""
    floats = {k: f for k, v in d.items() if (f := _to_float(v)) is not None}
    ins = [v for k, v in floats.items() if k == "input" or k.startswith("input_")]
    outs = [v for k, v in floats.items() if k == "output" or k.startswith("output_")]
    total = floats.get("total")
    return (sum(ins) if ins else None, sum(outs) if outs else None, total)


# -- ids -----------------------------------------------------------------------------------------------


def _id_problem(trace_id: bytes, span_id: bytes, parent: bytes | None, marker: str) -> str:
    """Describe why a trace/span/parent id triple is invalid ("" when it is valid)."""
    problems = []
    if not trace_id and not span_id:
        problems.append("trace_id and span_id are missing (was an OTLP logs body posted to the traces endpoint?)")
    else:
        if len(trace_id) != 16:
            problems.append(f"trace_id must be 16 bytes, got {len(trace_id)}")
        elif trace_id == _ZERO16:
            problems.append("trace_id is all zeros")
        if len(span_id) != 8:
            problems.append(f"span_id must be 8 bytes, got {len(span_id)}")
        elif span_id == _ZERO8:
            problems.append("span_id is all zeros")
    if parent and len(parent) != 8:
        problems.append(f"parent_span_id must be empty or 8 bytes, got {len(parent)}")
    if problems and marker:
        problems.append(marker)
    return "; ".join(problems)


def _marker(kvs: Any) -> str:
    """Return the decoder's invalid-id note from a span/log attribute list ("" if none)."""
    for kv in kvs:
        if kv.key == INVALID_ID_ATTR:
            return kv.value.string_value
    return ""


# -- attribute key classification ------------------------------------------------------------------

# Each attribute key is classified once (memoized: emitters use a small key vocabulary) into a bit
# mask of the sections that read it; sections whose keys are all absent are skipped outright.
_B_KIND = 1
_B_STATUS = 1 << 1
_B_MODEL = 1 << 2
_B_USAGE = 1 << 3
_B_COST = 1 << 4
_B_LF_DETAILS = 1 << 5
_B_MSG = 1 << 6
_B_FINISH = 1 << 7
_B_TOOL_DEFS = 1 << 8
_B_RAW = 1 << 9
_B_RETRIEVAL = 1 << 10
_B_CTX = 1 << 11
_B_PARAMS = 1 << 12
_B_RETRIEVAL_PREFIX = 1 << 13  # a `gen_ai.retrieval.*` key that is no flattened family: marks retrieval kind
_B_PARAM_PREFIX = 1 << 14  # a `gen_ai.request.*`-style key: the info's remainder is the request param name

_FINISH_KEYS = ("gen_ai.response.finish_reasons", "llm.finish_reason")
_SECTION_KEYS: tuple[tuple[int, frozenset[str]], ...] = (
    (
        _B_KIND,
        frozenset(
            (
                "langfuse.observation.type",
                "openinference.span.kind",
                "gen_ai.operation.name",
                "llm.request.type",
                "traceloop.span.kind",
                "gen_ai.tool.name",
                "gen_ai.tool.call.id",
            )
            + A.MODEL_MARKER_KEYS
        ),
    ),
    (
        _B_STATUS,
        frozenset(("error.type", "langfuse.observation.level", "langfuse.observation.status_message")),
    ),
    (
        _B_MODEL,
        frozenset(
            A.MODEL_RESPONDED_KEYS
            + A.MODEL_REQUESTED_KEYS
            + A.MODEL_FALLBACK_KEYS
            + A.PROVIDER_KEYS
            + ("llm.provider", "llm.system")
        ),
    ),
    (_B_USAGE, _USAGE_KEYS),
    (_B_COST, _COST_KEYS),
    (_B_LF_DETAILS, frozenset(("langfuse.observation.usage_details", "langfuse.observation.cost_details"))),
    (
        _B_MSG,
        frozenset(
            (
                "langfuse.observation.input",
                "langfuse.observation.output",
                "gen_ai.input.messages",
                "gen_ai.output.messages",
                "gen_ai.system_instructions",
                "gen_ai.prompt",
                "gen_ai.completion",
                "llm.prompts",
            )
        ),
    ),
    (_B_FINISH, frozenset(_FINISH_KEYS)),
    (_B_TOOL_DEFS, frozenset(("gen_ai.tool.definitions",))),
    (
        _B_RAW,
        frozenset(
            A.RAW_INPUT_KEYS
            + A.RAW_OUTPUT_KEYS
            + A.TOOL_ARGUMENTS_KEYS
            + A.TOOL_RESULT_KEYS
            + ("input.mime_type", "output.mime_type")
        ),
    ),
    (_B_RETRIEVAL, frozenset(A.RETRIEVAL_QUERY_KEYS + ("gen_ai.retrieval.documents",))),
    (_B_CTX, frozenset(k for _, keys in _CTX_FIELDS for k in keys) | frozenset(A.TAG_KEYS)),
    (_B_PARAMS, frozenset(tuple(A.REQUEST_PARAM_FLAT_KEYS) + A.REQUEST_PARAM_JSON_KEYS)),
)
_REQUEST_PARAM_FLAT_ITEMS = tuple(A.REQUEST_PARAM_FLAT_KEYS.items())
_MODEL_MARKERS = frozenset(A.MODEL_MARKER_KEYS)
_USAGE_ITEMS = tuple(A.USAGE_ALIASES.items())
_CTX_FIELD_SETS = tuple((fname, keys, frozenset(keys)) for fname, keys in _CTX_FIELDS)

# key -> (section bits, flattened family or None, remainder after the family prefix / request param name)
_KeyInfo = tuple[int, "str | None", str]
_PLAIN: _KeyInfo = (0, None, "")
_key_info: dict[str, _KeyInfo] = {}
_KEY_INFO_MAX = 50_000


def _classify_key(key: str) -> _KeyInfo:
    """Classify one attribute key (see _key_info); the scan rules of normalize_span section 2."""
    bits = 0
    for bit, keyset in _SECTION_KEYS:
        if key in keyset:
            bits |= bit
    family = None
    rest = ""
    if key.startswith(_SCAN_PREFIXES):
        # Find the family by dict lookups on the 1-, 2- and 3-segment prefixes.
        d1 = key.find(".") + 1
        d2 = key.find(".", d1) + 1
        prefix = key[:d2] if d2 else ""
        if prefix not in _FLAT_FAMILIES:
            prefix = key[:d1]
            if prefix not in _FLAT_FAMILIES and d2:
                d3 = key.find(".", d2) + 1
                prefix = key[:d3] if d3 else ""
        fam = _FLAT_FAMILIES.get(prefix)
        if fam is not None:
            tail = key[len(prefix) :]
            idx = tail.partition(".")[0]
            if idx.isdigit() and int(idx) <= SLOT_CAP:
                family, rest = fam, tail
        elif key.startswith("gen_ai.retrieval."):
            bits |= _B_RETRIEVAL_PREFIX
        else:
            for p in A.REQUEST_PARAM_PREFIXES:
                if key.startswith(p):
                    bits |= _B_PARAM_PREFIX
                    rest = key[len(p) :]
                    break
    if not bits and family is None:
        return _PLAIN
    return (bits, family, rest)


def _key_info_of(key: str) -> _KeyInfo:
    """Memoized _classify_key (bounded: cleared when full)."""
    info = _key_info.get(key)
    if info is None:
        if len(_key_info) >= _KEY_INFO_MAX:
            _key_info.clear()
        info = _key_info[key] = _classify_key(key)
    return info


# -- the span normalizer ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _MessageSources:
    """The attribute names of one side (input or output) in precedence order, and its default role."""

    role: str
    langfuse: str
    genai: str
    openinference: str
    indexed: str
    texts: str
    legacy: str


_INPUT_SOURCES = _MessageSources(
    "user",
    "langfuse.observation.input",
    "gen_ai.input.messages",
    "llm.input_messages",
    "gen_ai.prompt",
    "llm.prompts",
    "gen_ai.prompt",
)
_OUTPUT_SOURCES = _MessageSources(
    "assistant",
    "langfuse.observation.output",
    "gen_ai.output.messages",
    "llm.output_messages",
    "gen_ai.completion",
    "llm.choices",
    "gen_ai.completion",
)


def _resolve_messages(
    names: _MessageSources,
    *,
    langfuse: Any,
    genai: Any,
    details: list[dict[str, Any]],
    legacy_events: list[dict[str, Any]],
    openinference: list[Any],
    indexed: list[Any],
    texts: list[Any],
    legacy: Any,
) -> tuple[list[dict[str, Any]], str, Any]:
    """Return one side's messages from the first source that has any, the attribute they came from, and
    the raw value to fall back on when no source parsed as messages."""
    role, fallback = names.role, None
    if langfuse is not None:
        messages = _canon_messages(langfuse, role, strict=True)
        if messages:
            return messages, names.langfuse, None
        fallback = langfuse
    if genai is not None:
        messages = _canon_messages(genai, role)
        if messages:
            return messages, names.genai, fallback
        if isinstance(genai, str):
            fallback = fallback or genai
    if details:
        return details, "events", fallback
    if legacy_events:
        return legacy_events, "events", fallback
    if openinference:
        messages = [m for m in (_oi_message(e, role) for e in openinference) if m is not None]
        if messages:
            return messages, names.openinference, fallback
    if indexed:
        messages = [_canon_message(m, role) for m in indexed if isinstance(m, dict)]
        if messages:
            return messages, names.indexed, fallback
    if texts:
        return [_text_message(role, _prompt_text(t)) for t in texts], names.texts, fallback
    if legacy is not None:
        messages = _canon_messages(legacy, role)
        if messages:
            return messages, names.legacy, fallback
        fallback = fallback or legacy
    return [], "", fallback


def normalize_span(raw: RawSpan, *, max_value_chars: int = 32_000) -> NormalizedSpan:
    """Validate one OTLP span and map it onto NormalizedSpan; raise SpanRejected on bad ids."""
    span = raw.span
    tid, sid, pid = span.trace_id, span.span_id, span.parent_span_id
    if len(tid) != 16 or len(sid) != 8 or tid == _ZERO16 or sid == _ZERO8 or (pid and len(pid) != 8):
        raise SpanRejected(_id_problem(tid, sid, pid, _marker(span.attributes)))
    cap = max_value_chars
    resource = raw.resource

    # 1. Decode attributes, truncating long strings (JSON content keys are capped after parsing), and
    # 2. classify each key once: section bits, flattened families, request params, retrieval markers.
    a: dict[str, Any] = {}
    truncated: list[str] = []
    deferred_long: set[str] = set()
    special: list[tuple[str, _KeyInfo]] = []
    key_info = _key_info
    attrs = span.attributes
    for kv in attrs:
        key = kv.key
        v = kv.value
        value: Any = v.string_value  # strings dominate: skip WhichOneof unless this one is empty
        if value:
            if len(value) > cap:
                if key in _JSON_CONTENT_KEYS:
                    deferred_long.add(key)
                else:
                    value = value[:cap]
                    truncated.append(key)
        else:
            value = any_value_to_python(v)
        a[key] = value
        info = key_info.get(key)
        if info is None:
            info = _key_info_of(key)
        if info is not _PLAIN:
            special.append((key, info))
    if len(a) != len(attrs) and special:  # duplicate keys: keep each key's first position, as dict order does
        special = list(dict(special).items())
    a.pop(INVALID_ID_ATTR, None)
    keys = a.keys()  # live view: isdisjoint() below skips whole sections cheaply

    bits = 0
    flat: dict[str, list[tuple[str, Any]]] = {}
    param_keys: list[tuple[str, str]] = []
    for key, (kbits, family, rest) in special:
        bits |= kbits
        if family is not None:
            entries = flat.get(family)
            if entries is None:
                flat[family] = [(rest, key)]
            else:
                entries.append((rest, key))
        elif kbits & _B_PARAM_PREFIX:
            param_keys.append((key, rest))
    has_retrieval_attr = bool(bits & _B_RETRIEVAL_PREFIX)

    def take_flat(family: str) -> list[Any]:
        """Unflatten one family, popping its keys unless the family is kept in attributes."""
        entries = flat.get(family)
        if not entries:
            return []
        keep = family in _KEEP_FAMILIES
        items = [(rest, a[key] if keep else a.pop(key)) for rest, key in entries]
        return _unflatten(items)

    # 3. Kind (precedence of section 5.1 rule 1) and operation.
    if bits & _B_KIND:
        kind = ""
        lf_type = a.get("langfuse.observation.type")
        if lf_type:
            kind = A.LANGFUSE_TYPE_KIND.get(_to_str(lf_type).lower(), "")
        if not kind:
            oi_kind = a.get("openinference.span.kind")
            if oi_kind:
                kind = A.OPENINFERENCE_KIND.get(_to_str(oi_kind).upper(), "")
        operation = _to_str(a.pop("gen_ai.operation.name", ""))
        request_type = _to_str(a.get("llm.request.type", ""))
        if not kind and operation:
            kind = A.OPERATION_KIND.get(operation.lower(), "")
        if not kind:
            tl_kind = a.get("traceloop.span.kind")
            if tl_kind:
                kind = A.TRACELOOP_KIND.get(_to_str(tl_kind).lower(), "")
        if not kind and request_type:
            kind = A.LLM_REQUEST_TYPE_KIND.get(request_type.lower(), "")
        if not kind and ("gen_ai.tool.name" in a or "gen_ai.tool.call.id" in a):
            kind = "tool"
        if not kind and has_retrieval_attr:
            kind = "retrieval"
        if not kind and not keys.isdisjoint(_MODEL_MARKERS):
            kind = "llm"
        if not kind:
            kind = "other"
        if not operation and request_type:
            operation = request_type
            del a["llm.request.type"]
    else:
        operation = ""
        kind = "retrieval" if has_retrieval_attr else "other"

    # 4. Timestamps (a missing end falls back to the other; end < start clamps).
    start_ns, end_ns = span.start_time_unix_nano, span.end_time_unix_nano
    if not start_ns and not end_ns:
        start_ns = end_ns = int(datetime.now(UTC).timestamp() * 1e9)
    elif not start_ns:
        start_ns = end_ns
    elif not end_ns or end_ns < start_ns:
        end_ns = start_ns

    # 5. Status and errors.
    status = _STATUS.get(span.status.code, "unset")
    error_message = span.status.message
    error_type = ""
    if bits & _B_STATUS:
        error_type = _to_str(a.pop("error.type", ""))
        lf_level = _to_str(a.get("langfuse.observation.level", "")).upper()
        if lf_level == "ERROR" and status == "unset":
            status = "error"
            del a["langfuse.observation.level"]
        lf_status_message = a.pop("langfuse.observation.status_message", None)
        if lf_status_message and not error_message:
            error_message = _to_str(lf_status_message)

    # 6. Span events: content events feed messages, exceptions feed the error, the rest is kept.
    events: list[dict[str, Any]] = []
    det_in: list[dict[str, Any]] = []
    det_out: list[dict[str, Any]] = []
    det_sys: list[dict[str, Any]] = []
    leg_in: list[dict[str, Any]] = []
    leg_out: list[dict[str, Any]] = []
    event_docs: list[dict[str, Any]] = []
    for i, ev in enumerate(span.events):
        name = ev.name
        eattrs = attributes_to_dict(ev.attributes)
        if name == DETAILS_EVENT:
            det_in = _canon_messages(eattrs.pop("gen_ai.input.messages", None)) or det_in
            det_out = _canon_messages(eattrs.pop("gen_ai.output.messages", None), "assistant") or det_out
            det_sys = _instructions_parts(eattrs.pop("gen_ai.system_instructions", None)) or det_sys
        elif name in _LEGACY_EVENT_ROLES:
            leg_in.append(_legacy_event_message(name, _event_body(eattrs)))
        elif name == "gen_ai.choice":
            leg_out.append(_legacy_event_message(name, _event_body(eattrs)))
        elif name == "gen_ai.content.prompt":  # semconv 1.26/1.27 span events
            leg_in.extend(_canon_messages(eattrs.pop("gen_ai.prompt", None)))
        elif name == "gen_ai.content.completion":
            leg_out.extend(_canon_messages(eattrs.pop("gen_ai.completion", None), "assistant"))
        elif name == "db.query.result":
            doc = {
                k[len("db.query.result.") :]: eattrs.pop(k) for k in list(eattrs) if k.startswith("db.query.result.")
            }
            if "document" in doc and "content" not in doc:
                doc["content"] = doc.pop("document")
            if "score" not in doc and "distance" in doc:
                doc["score"] = doc["distance"]
            normalized_doc = _document(doc)
            if normalized_doc is not None:
                event_docs.append(normalized_doc)
            if not eattrs:
                continue
        elif name == "exception":
            if not error_type:
                error_type = _to_str(eattrs.get("exception.type", ""))
            if not error_message:
                error_message = _to_str(eattrs.get("exception.message", ""))
        for key, value in eattrs.items():
            if isinstance(value, str) and len(value) > cap:
                eattrs[key] = value[:cap]
                truncated.append(f"events.{i}.{key}")
        events.append({"name": name, "time": _ns_to_iso(ev.time_unix_nano), "attributes": eattrs})

    # 7. Model, provider.
    if bits & _B_MODEL:
        model_responded = _to_str(_pick(a, A.MODEL_RESPONDED_KEYS))
        model_requested = _to_str(_pick(a, A.MODEL_REQUESTED_KEYS))
        model = model_responded or _to_str(_pick(a, A.MODEL_FALLBACK_KEYS)) or model_requested
        provider_value = _pick(a, A.PROVIDER_KEYS)
        if provider_value is not None:
            provider = _normalize_provider(provider_value)
        elif "llm.provider" in a or "llm.system" in a:
            provider = _openinference_provider(a.pop("llm.provider", ""), a.pop("llm.system", ""))
        else:
            provider = ""
    else:
        model_responded = model_requested = model = provider = ""

    # 8. Usage (OTel-inclusive) and reported cost.
    if not bits & _B_USAGE:
        usage = dict.fromkeys(A.USAGE_ALIASES)
    else:
        usage = {name: _to_int(_pick(a, aliases)) for name, aliases in _USAGE_ITEMS}
    lf_details = bits & _B_LF_DETAILS
    if lf_details:
        lf_usage = _json_maybe(a.pop("langfuse.observation.usage_details", None))
        if isinstance(lf_usage, dict):
            for name, value in _langfuse_usage(lf_usage).items():
                if usage.get(name) is None:
                    usage[name] = value
    total = usage["total_tokens"]
    if total is None and (usage["input_tokens"] is not None or usage["output_tokens"] is not None):
        total = (usage["input_tokens"] or 0) + (usage["output_tokens"] or 0)
    cost_input = cost_output = cost_total = None
    if bits & _B_COST:
        cost_input = _to_float(_pick(a, A.COST_INPUT_KEYS))
        cost_output = _to_float(_pick(a, A.COST_OUTPUT_KEYS))
        cost_total = _to_float(_pick(a, A.COST_TOTAL_KEYS))
    if lf_details:
        lf_cost = _json_maybe(a.pop("langfuse.observation.cost_details", None))
        if isinstance(lf_cost, dict):
            li, lo, lt = _langfuse_cost(lf_cost)
            cost_input = cost_input if cost_input is not None else li
            cost_output = cost_output if cost_output is not None else lo
            cost_total = cost_total if cost_total is not None else lt
    if cost_total is None and (cost_input is not None or cost_output is not None):
        cost_total = (cost_input or 0.0) + (cost_output or 0.0)
    cost_source = "reported" if cost_total is not None else ""

    # 9. Messages (section 5.1 rule 2): the first source with messages wins, per side.
    if bits & _B_MSG or flat or det_in or det_out or det_sys or leg_in or leg_out:
        lf_in = a.pop("langfuse.observation.input", None)
        lf_out = a.pop("langfuse.observation.output", None)
        genai_in = a.pop("gen_ai.input.messages", None)
        genai_out = a.pop("gen_ai.output.messages", None)
        sys_value = a.pop("gen_ai.system_instructions", None)
        legacy_prompt = a.pop("gen_ai.prompt", None)
        legacy_completion = a.pop("gen_ai.completion", None)
        oi_in, oi_out = take_flat("oi_in"), take_flat("oi_out")
        ol_in, ol_out = take_flat("ol_in"), take_flat("ol_out")
        oi_prompts, oi_choices = take_flat("oi_prompts"), take_flat("oi_choices")
        if not oi_prompts and isinstance(a.get("llm.prompts"), list):
            oi_prompts = a.pop("llm.prompts")

        input_messages, in_source, raw_fallback_in = _resolve_messages(
            _INPUT_SOURCES,
            langfuse=lf_in,
            genai=genai_in,
            details=det_in,
            legacy_events=leg_in,
            openinference=oi_in,
            indexed=ol_in,
            texts=oi_prompts,
            legacy=legacy_prompt,
        )
        output_messages, out_source, raw_fallback_out = _resolve_messages(
            _OUTPUT_SOURCES,
            langfuse=lf_out,
            genai=genai_out,
            details=det_out,
            legacy_events=leg_out,
            openinference=oi_out,
            indexed=ol_out,
            texts=oi_choices,
            legacy=legacy_completion,
        )

        sys_parts = _instructions_parts(sys_value) if sys_value is not None else det_sys
        if sys_parts and not any(m.get("role") in ("system", "developer") for m in input_messages):
            input_messages.insert(0, {"role": "system", "parts": sys_parts})
        system_instructions = _parts_text(sys_parts) if sys_parts else _system_text(input_messages)
        if _cap_messages(input_messages, cap):
            truncated.append(in_source)
        if _cap_messages(output_messages, cap):
            truncated.append(out_source)
    else:  # no message source at all
        input_messages, in_source, raw_fallback_in = [], "", None
        output_messages, out_source, raw_fallback_out = [], "", None
        system_instructions = ""

    # 10. Finish reasons and tool calls.
    fr_value = _pick(a, _FINISH_KEYS) if bits & _B_FINISH else None
    if fr_value is not None:
        finish_reasons = [r for r in map(_normalize_finish_reason, _as_str_list(fr_value)) if r]
    else:
        finish_reasons = [m["finish_reason"] for m in output_messages if m.get("finish_reason")]
    tool_calls = [
        {"id": _to_str(p.get("id", "")), "name": _to_str(p.get("name", "")), "arguments": p.get("arguments")}
        for m in output_messages
        for p in m.get("parts") or ()
        if p.get("type") == "tool_call"
    ]

    tool_definitions: list[Any] = []
    if bits & _B_TOOL_DEFS:
        tool_defs_value = _json_maybe(a.pop("gen_ai.tool.definitions", None))
        if isinstance(tool_defs_value, list):
            tool_definitions = [_tool_definition(t) for t in tool_defs_value]
        elif isinstance(tool_defs_value, dict):
            tool_definitions = [_tool_definition(tool_defs_value)]
    if flat:
        oi_tools, ol_tools = take_flat("oi_tools"), take_flat("ol_tools")
        if not tool_definitions:
            tool_definitions = [_tool_definition(t) for t in (oi_tools or ol_tools)]

    # 11. Raw input/output (untyped payloads).
    if bits & _B_RAW:
        raw_in_value = _pick(a, A.RAW_INPUT_KEYS)
        raw_out_value = _pick(a, A.RAW_OUTPUT_KEYS)
        a.pop("input.mime_type", None)
        a.pop("output.mime_type", None)
        tool_args = _pick(a, A.TOOL_ARGUMENTS_KEYS)
        tool_result = _pick(a, A.TOOL_RESULT_KEYS)
    else:
        raw_in_value = raw_out_value = tool_args = tool_result = None
    if raw_in_value is None:
        raw_in_value = raw_fallback_in
    if raw_out_value is None:
        raw_out_value = raw_fallback_out
    if raw_in_value is None and tool_args is not None:
        raw_in_value = tool_args
    if raw_out_value is None and tool_result is not None:
        raw_out_value = tool_result
    raw_input, raw_output = _to_str(raw_in_value), _to_str(raw_out_value)
    if len(raw_input) > cap:
        raw_input = raw_input[:cap]
        truncated.append("raw_input")
    if len(raw_output) > cap:
        raw_output = raw_output[:cap]
        truncated.append("raw_output")

    # 12. Tool span details.
    name = span.name
    if kind == "tool":
        tool_name = _to_str(_pick(a, A.TOOL_NAME_KEYS)) or _to_str(a.get("traceloop.entity.name", "")) or name
        tool_calls.append(
            {
                "id": _to_str(_pick(a, A.TOOL_CALL_ID_KEYS)),
                "name": tool_name,
                "type": _to_str(_pick(a, A.TOOL_TYPE_KEYS)),
                "arguments": _parse_args(tool_args if tool_args is not None else raw_input),
                "result": _parse_args(tool_result if tool_result is not None else raw_output),
            }
        )
        name = tool_name or name

    # 13. Retrieval.
    documents: list[dict[str, Any]] = []
    if bits & _B_RETRIEVAL:
        retrieval_query = _to_str(_pick(a, A.RETRIEVAL_QUERY_KEYS))
        docs_value = _json_maybe(a.pop("gen_ai.retrieval.documents", None))
        if isinstance(docs_value, list):
            documents = [d for d in map(_document, docs_value) if d is not None]
    else:
        retrieval_query = ""
    if not retrieval_query and kind in ("retrieval", "reranker"):
        retrieval_query = raw_input
    if not documents and flat:
        documents = [d for d in map(_document, take_flat("oi_docs") or take_flat("rr_docs")) if d is not None]
    if not documents:
        documents = event_docs
    for doc in documents:
        if len(doc["content"]) > cap:
            doc["content"] = doc["content"][:cap]
            if "documents" not in truncated:
                truncated.append("documents")

    # 14. Context: route, prompt, environment, release, user, session, tags, trace name.
    res_ctx, res_tags = _resource_context(resource)
    if not bits & _B_CTX or keys.isdisjoint(_CTX_KEYS):  # fast path: everything comes from the resource
        ctx = {fname: hit[1] for fname, hit in res_ctx.items()}
        tags = list(res_tags)
    else:
        ctx = {}
        for fname, aliases, alias_set in _CTX_FIELD_SETS:
            hit = res_ctx.get(fname)
            if keys.isdisjoint(alias_set):  # nothing on the span: the resource's value (if any)
                ctx[fname] = hit[1] if hit else ""
            else:
                ctx[fname] = _pick_ctx(a, aliases, hit)
        tags = []
        for key in A.TAG_KEYS:
            value = a.pop(key, None)
            if value is None:
                value = resource.get(key)
            for tag in _as_str_list(value):
                if tag not in tags:
                    tags.append(tag)
    as_root = a.pop("langfuse.internal.as_root", None)
    is_root = not pid or as_root is True or _to_str(as_root).lower() == "true"

    # 15. Request parameters.
    request_params: dict[str, Any] = {}
    for key, param in param_keys:
        if key in a and param != "model":
            request_params[param] = _json_maybe(a.pop(key))
    if bits & _B_PARAMS:
        for key, param in _REQUEST_PARAM_FLAT_ITEMS:
            if key in a:
                request_params.setdefault(param, a.pop(key))
        for key in A.REQUEST_PARAM_JSON_KEYS:
            value = _json_maybe(a.get(key))
            if isinstance(value, dict):
                del a[key]
                for k, v in value.items():
                    request_params.setdefault(k, v)

    # 16. Plain-text renderings.
    if kind == "llm":
        input_text = _input_text(input_messages) or raw_input
        output_text = _output_text(output_messages) or raw_output
    else:
        input_text = raw_input or retrieval_query or _input_text(input_messages)
        output_text = raw_output or _output_text(output_messages)

    # 17. Evaluations (keys stay in attributes) and leftovers.
    evaluations = (
        [e for e in map(_evaluation, take_flat("oi_evals") + take_flat("oi_annots")) if e is not None] if flat else []
    )
    metadata = a.get("metadata")
    if isinstance(metadata, str):
        parsed = _json_maybe(metadata)
        if isinstance(parsed, dict):
            a["metadata"] = parsed
    for key in deferred_long:
        value = a.get(key)
        if isinstance(value, str):
            a[key] = value[:cap]
            truncated.append(key)

    # Positional arguments in field order: a 56-keyword call costs more than the rest of this block.
    return NormalizedSpan(
        tid.hex(),  # trace_id
        sid.hex(),  # span_id
        pid.hex(),  # parent_span_id
        is_root,  # is_root
        name,  # name
        kind,  # kind
        operation,  # operation
        _EPOCH + timedelta(0, 0, start_ns // 1000),  # started_at
        _EPOCH + timedelta(0, 0, end_ns // 1000),  # ended_at
        (end_ns - start_ns) / 1e6,  # latency_ms
        status,  # status
        error_type,  # error_type
        error_message,  # error_message
        model,  # model
        model_requested,  # model_requested
        model_responded,  # model_responded
        provider,  # provider
        ctx.get("prompt_name", ""),  # prompt_name
        ctx.get("prompt_version", ""),  # prompt_version
        ctx.get("route", ""),  # route
        ctx.get("environment", ""),  # environment
        ctx.get("release", ""),  # release
        ctx.get("user_id", ""),  # user_id
        ctx.get("session_id", ""),  # session_id
        tags,  # tags
        ctx.get("trace_name", ""),  # trace_name
        system_instructions,  # system_instructions
        input_messages,  # input_messages
        output_messages,  # output_messages
        finish_reasons,  # finish_reasons
        tool_definitions,  # tool_definitions
        tool_calls,  # tool_calls
        retrieval_query,  # retrieval_query
        documents,  # documents
        usage["input_tokens"],  # input_tokens
        usage["output_tokens"],  # output_tokens
        total,  # total_tokens
        usage["cache_read_tokens"],  # cache_read_tokens
        usage["cache_write_tokens"],  # cache_write_tokens
        usage["reasoning_tokens"],  # reasoning_tokens
        cost_input,  # cost_input
        cost_output,  # cost_output
        cost_total,  # cost_total
        cost_source,  # cost_source
        request_params,  # request_params
        raw_input,  # raw_input
        raw_output,  # raw_output
        input_text,  # input_text
        output_text,  # output_text
        a,  # attributes
        resource,  # resource
        {"name": raw.scope_name, "version": raw.scope_version},  # scope
        events,  # events
        evaluations,  # evaluations
        truncated,  # truncated
        span.dropped_attributes_count,  # dropped_attributes_count
    )


def _oi_message(entry: Any, default_role: str) -> dict[str, Any] | None:
    """Convert an unflattened OpenInference {"message": {...}} entry to a canonical message."""
    m = entry.get("message") if isinstance(entry, dict) else None
    if not isinstance(m, dict):
        return None
    d = {k: m[k] for k in ("role", "name", "tool_call_id") if k in m}
    contents = m.get("contents")
    if isinstance(contents, list):
        blocks: list[Any] = []
        if m.get("content"):
            blocks.append({"type": "text", "text": m["content"]})
        blocks.extend(c.get("message_content", c) for c in contents if isinstance(c, dict))
        d["content"] = blocks
    elif "content" in m:
        d["content"] = m["content"]
    tcs = m.get("tool_calls")
    if isinstance(tcs, list):
        d["tool_calls"] = [tc.get("tool_call", tc) for tc in tcs if isinstance(tc, dict)]
    return _canon_message(d, default_role)


def _prompt_text(entry: Any) -> str:
    """Text of an OpenInference llm.prompts / llm.choices entry (string or {prompt|completion: {text}})."""
    if isinstance(entry, dict):
        inner = entry.get("prompt") or entry.get("completion") or entry
        if isinstance(inner, dict):
            return _to_str(inner.get("text", ""))
        return _to_str(inner)
    return _to_str(entry)


def _text_message(role: str, text: str) -> dict[str, Any]:
    """Build a one-text-part message."""
    return {"role": role, "parts": [{"type": "text", "content": text}]}


# -- log records --------------------------------------------------------------------------------------


def normalize_log_record(raw: RawLogRecord) -> LogContent | LogEvaluation | None:
    """Map a GenAI log event to LogContent / LogEvaluation; None for unrelated records."""
    record = raw.record
    attrs = attributes_to_dict(record.attributes)
    event_name = record.event_name or _to_str(attrs.get("event.name", ""))
    is_content = event_name == DETAILS_EVENT or event_name in _LEGACY_EVENT_ROLES or event_name == "gen_ai.choice"
    if not is_content and event_name != EVALUATION_EVENT:
        return None
    tid, sid = record.trace_id, record.span_id
    marker = _to_str(attrs.get(INVALID_ID_ATTR, ""))
    if is_content:
        problem = _id_problem(tid, sid, None, marker)
        if problem:
            raise SpanRejected(f"{event_name} log record: {problem}")
    else:
        # An evaluation may lack span context when it names the evaluated response instead.
        response_id = _to_str(attrs.get("gen_ai.response.id", ""))
        problem = ""
        if tid and (len(tid) != 16 or tid == _ZERO16):
            problem = f"trace_id must be 16 non-zero bytes, got {len(tid)}"
        elif sid and (len(sid) != 8 or sid == _ZERO8):
            problem = f"span_id must be 8 non-zero bytes, got {len(sid)}"
        elif not tid and not response_id:
            problem = "needs a trace_id/span_id or gen_ai.response.id"
        if problem:
            raise SpanRejected(f"{event_name} log record: {'; '.join(filter(None, (problem, marker)))}")
        return LogEvaluation(
            trace_id=tid.hex(),
            span_id=sid.hex(),
            name=_to_str(attrs.get("gen_ai.evaluation.name", "")),
            score=_to_float(attrs.get("gen_ai.evaluation.score.value")),
            label=_to_str(attrs.get("gen_ai.evaluation.score.label", "")),
            explanation=_to_str(attrs.get("gen_ai.evaluation.explanation", "")),
            response_id=response_id,
        )

    ns = record.time_unix_nano or record.observed_time_unix_nano
    when = _ns_to_dt(ns) if ns else datetime.now(UTC)
    body = any_value_to_python(record.body) if record.HasField("body") else None
    content = LogContent(trace_id=tid.hex(), span_id=sid.hex(), time=when)
    if event_name == DETAILS_EVENT:
        source = (
            attrs
            if "gen_ai.input.messages" in attrs or "gen_ai.output.messages" in attrs
            else (body if isinstance(body, dict) else {})
        )
        content.input_messages = _canon_messages(source.get("gen_ai.input.messages"))
        content.output_messages = _canon_messages(source.get("gen_ai.output.messages"), "assistant")
        sys_parts = _instructions_parts(source.get("gen_ai.system_instructions"))
        if sys_parts:
            content.system_instructions = _parts_text(sys_parts)
            if not any(m.get("role") in ("system", "developer") for m in content.input_messages):
                content.input_messages.insert(0, {"role": "system", "parts": sys_parts})
        else:
            content.system_instructions = _system_text(content.input_messages)
        return content
    body_dict = body if isinstance(body, dict) else ({"content": body} if body is not None else {})
    msg = _legacy_event_message(event_name, body_dict)
    content.append = True
    if event_name == "gen_ai.choice":
        content.output_messages = [msg]
    else:
        content.input_messages = [msg]
        if msg["role"] in ("system", "developer"):
            content.system_instructions = _parts_text(msg["parts"])
    return content


def _append_messages(target: list[dict[str, Any]], new: list[dict[str, Any]]) -> bool:
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
        changed_in = _append_messages(span.input_messages, content.input_messages)
        changed_out = _append_messages(span.output_messages, content.output_messages)
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
        span.input_text = _input_text(span.input_messages) or span.input_text
    if changed_out:
        if span.kind == "llm" or not span.output_text:
            span.output_text = _output_text(span.output_messages) or span.output_text
        span.finish_reasons = span.finish_reasons or [
            m["finish_reason"] for m in span.output_messages if m.get("finish_reason")
        ]
        known = {(tc["id"], tc["name"]) for tc in span.tool_calls}
        for m in content.output_messages:
            for p in m.get("parts") or ():
                if p.get("type") == "tool_call" and (_to_str(p.get("id", "")), _to_str(p.get("name", ""))) not in known:
                    span.tool_calls.append(
                        {
                            "id": _to_str(p.get("id", "")),
                            "name": _to_str(p.get("name", "")),
                            "arguments": p.get("arguments"),
                        }
                    )
