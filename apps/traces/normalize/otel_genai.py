"""OTel GenAI span events (current details event, legacy per-message events, db.query.result) and their bodies.

The same event names arrive as log records on /v1/logs; logs.py reads those with the helpers here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.traces.normalize.attributes import decode_plain
from apps.traces.normalize.documents import document
from apps.traces.normalize.messages import canon_message, canon_messages, instructions_parts
from apps.traces.normalize.model import NormalizedSpan
from apps.traces.normalize.values import json_maybe, ns_to_iso, to_str

LEGACY_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
EVALUATION_EVENT = "gen_ai.evaluation.result"


@dataclass(slots=True)
class EventContent:
    """What a span's events contribute to its messages and documents."""

    details_in: list[dict[str, Any]] = field(default_factory=list)
    details_out: list[dict[str, Any]] = field(default_factory=list)
    details_sys: list[dict[str, Any]] = field(default_factory=list)
    legacy_in: list[dict[str, Any]] = field(default_factory=list)
    legacy_out: list[dict[str, Any]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)

    def has_messages(self) -> bool:
        """Return True when any event carried message content."""
        return bool(self.details_in or self.details_out or self.details_sys or self.legacy_in or self.legacy_out)


def span_events(n: NormalizedSpan, pb_events: Any, cap: int, truncated: list[str], warnings: list[str]) -> EventContent:
    """Read span events: content events feed messages, exceptions feed the error, the rest is kept in n.events."""
    found = EventContent()
    events = n.events
    for i, ev in enumerate(pb_events):
        name = ev.name
        eattrs = decode_plain(ev.attributes, warnings, f"events.{i}.")
        if "\x00" in name:
            warnings.append(f"nul_stripped:events.{i}.name")  # stripped with the rest by sanitize
        if name == DETAILS_EVENT:
            found.details_in = canon_messages(eattrs.pop("gen_ai.input.messages", None)) or found.details_in
            found.details_out = (
                canon_messages(eattrs.pop("gen_ai.output.messages", None), "assistant") or found.details_out
            )
            found.details_sys = instructions_parts(eattrs.pop("gen_ai.system_instructions", None)) or found.details_sys
        elif name in LEGACY_EVENT_ROLES:
            found.legacy_in.append(legacy_event_message(name, event_body(eattrs)))
        elif name == "gen_ai.choice":
            found.legacy_out.append(legacy_event_message(name, event_body(eattrs)))
        elif name == "gen_ai.content.prompt":  # semconv 1.26/1.27 span events
            found.legacy_in.extend(canon_messages(eattrs.pop("gen_ai.prompt", None)))
        elif name == "gen_ai.content.completion":
            found.legacy_out.extend(canon_messages(eattrs.pop("gen_ai.completion", None), "assistant"))
        elif name == "db.query.result":
            doc = _query_result_document(eattrs)
            if doc is not None:
                found.documents.append(doc)
            if not eattrs:
                continue
        elif name == "exception":
            if not n.error_type:
                n.error_type = to_str(eattrs.get("exception.type", ""))
            if not n.error_message:
                n.error_message = to_str(eattrs.get("exception.message", ""))
        for key, value in eattrs.items():
            if isinstance(value, str) and len(value) > cap:
                eattrs[key] = value[:cap]
                truncated.append(f"events.{i}.{key}")
        events.append({"name": name, "time": ns_to_iso(ev.time_unix_nano), "attributes": eattrs})
    return found


def _query_result_document(eattrs: dict[str, Any]) -> dict[str, Any] | None:
    """Pop a db.query.result event's `db.query.result.*` attributes and normalize them as a document."""
    doc = {k[len("db.query.result.") :]: eattrs.pop(k) for k in list(eattrs) if k.startswith("db.query.result.")}
    if "document" in doc and "content" not in doc:
        doc["content"] = doc.pop("document")
    if "score" not in doc and "distance" in doc:
        doc["score"] = doc["distance"]
    return document(doc)


def legacy_event_message(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Convert a legacy gen_ai.{system,user,assistant,tool}.message / gen_ai.choice body to a message."""
    if name == "gen_ai.choice":
        msg = json_maybe(body.get("message"))
        m = dict(msg) if isinstance(msg, dict) else {k: body[k] for k in ("content", "tool_calls", "role") if k in body}
        if body.get("finish_reason"):
            m["finish_reason"] = body["finish_reason"]
        return canon_message(m, "assistant")
    role = LEGACY_EVENT_ROLES[name]
    m = {k: v for k, v in body.items() if k not in ("gen_ai.system", "gen_ai.provider.name")}
    if role == "tool" and "tool_call_id" not in m and "id" in m:
        m["tool_call_id"] = m.pop("id")
    m.setdefault("role", role)
    return canon_message(m, role)


def event_body(attrs: dict[str, Any]) -> dict[str, Any]:
    """Return the message body of a legacy event recorded as a span event (attributes or a JSON body)."""
    for key in ("gen_ai.event.content", "event.body", "body"):
        if key in attrs:
            body = json_maybe(attrs.pop(key))
            if isinstance(body, dict):
                return body
            return {"content": body}
    body = {}
    for key in ("content", "role", "tool_calls", "id", "tool_call_id", "message", "finish_reason", "index", "name"):
        if key in attrs:
            body[key] = json_maybe(attrs.pop(key))
    return body
