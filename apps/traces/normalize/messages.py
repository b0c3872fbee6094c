"""Chat messages in any known shape to the OTel GenAI parts shape, and their plain-text renderings.

Shapes read: OTel GenAI parts, OpenAI chat (content, tool_calls, function_call, refusal), Anthropic
content blocks, OpenInference flattened messages (after unflattening) and OpenLLMetry's JSON-stringified
list content.
"""

from __future__ import annotations

from typing import Any

from apps.traces.normalize.values import json_maybe, normalize_finish_reason, to_str

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


def parse_args(value: Any) -> Any:
    """Parse tool-call arguments given as a JSON object/array string; keep anything else as-is."""
    parsed = json_maybe(value)
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


def canon_part(p: Any) -> dict[str, Any] | None:
    """Convert one content item (OTel part, OpenAI/Anthropic/OpenInference content block) to an OTel part."""
    if isinstance(p, str):
        return {"type": "text", "content": p}
    if not isinstance(p, dict):
        return None if p is None else {"type": "text", "content": to_str(p)}
    t = p.get("type")
    if t in ("text", "input_text", "output_text") or (t is None and "text" in p):
        content = p.get("content")
        if content is None:
            content = p.get("text", "")
        return {"type": "text", "content": to_str(content)}
    if t == "tool_call":
        if isinstance(p.get("arguments"), str):
            p = {**p, "arguments": parse_args(p["arguments"])}
        return p
    if t == "tool_call_response":
        if "response" not in p and "result" in p:
            p = {**p, "response": p["result"]}
        return p
    if t == "image_url":
        iu = p.get("image_url")
        url = iu.get("url", "") if isinstance(iu, dict) else to_str(iu)
        return _image_part(url)
    if t == "image":
        img = p.get("image")
        if isinstance(img, dict):  # OpenInference: image.image.url
            inner = img.get("image") if isinstance(img.get("image"), dict) else img
            return _image_part(to_str(inner.get("url", "")))
        src = p.get("source")
        if isinstance(src, dict):  # Anthropic
            if src.get("type") == "base64":
                part = {"type": "blob", "modality": "image", "content": to_str(src.get("data", ""))}
                if src.get("media_type"):
                    part["mime_type"] = src["media_type"]
                return part
            return _image_part(to_str(src.get("url", "")))
        return p
    if t == "tool_use":
        return {
            "type": "tool_call",
            "id": p.get("id", ""),
            "name": p.get("name", ""),
            "arguments": parse_args(p.get("input")),
        }
    if t == "tool_result":
        return {"type": "tool_call_response", "id": p.get("tool_use_id", ""), "response": p.get("content")}
    if t == "thinking":
        return {"type": "reasoning", "content": to_str(p.get("thinking", ""))}
    return p


def _content_to_parts(content: Any) -> list[dict[str, Any]]:
    """Convert a message `content` (string, JSON-stringified block list, list, dict) to parts."""
    if content is None or content == "":
        return []
    if isinstance(content, str):
        if content[:1] == "[":  # OpenLLMetry <=0.54 JSON-stringifies list content
            parsed = json_maybe(content)
            if isinstance(parsed, list) and parsed and all(isinstance(x, dict) and "type" in x for x in parsed):
                content = parsed
            else:
                return [{"type": "text", "content": content}]
        else:
            return [{"type": "text", "content": content}]
    if isinstance(content, dict):
        content = [content] if ("type" in content or "text" in content) else [to_str(content)]
    if isinstance(content, list):
        parts = []
        for item in content:
            part = canon_part(item)
            if part is not None:
                parts.append(part)
        return parts
    return [{"type": "text", "content": to_str(content)}]


def _tool_call_part(tc: Any) -> dict[str, Any] | None:
    """Convert an OpenAI-style ({function:{name,arguments}}) or flat tool call to a tool_call part."""
    if not isinstance(tc, dict):
        return None
    fn = tc.get("function")
    if isinstance(fn, dict):
        name, args = fn.get("name", ""), fn.get("arguments")
    else:
        name, args = tc.get("name", ""), tc.get("arguments")
    part: dict[str, Any] = {"type": "tool_call", "id": to_str(tc.get("id", "")), "name": to_str(name)}
    part["arguments"] = parse_args(args)
    return part


def canon_message(m: dict[str, Any], default_role: str) -> dict[str, Any]:
    """Convert one message in any known shape to {"role", "parts", "name"?, "finish_reason"?}."""
    role = to_str(m.get("role") or default_role)
    raw_parts = m.get("parts")
    if isinstance(raw_parts, list):
        parts = [p for p in map(canon_part, raw_parts) if p is not None]
    else:
        content = m.get("content")
        if (role == "tool" or m.get("tool_call_id")) and content is not None and not isinstance(content, list):
            parts = [
                {
                    "type": "tool_call_response",
                    "id": to_str(m.get("tool_call_id") or m.get("id") or ""),
                    "response": json_maybe(content) if isinstance(content, str) else content,
                }
            ]
        else:
            parts = _content_to_parts(content)
        if m.get("refusal"):
            parts.append({"type": "refusal", "content": to_str(m["refusal"])})
        tcs = json_maybe(m.get("tool_calls"))
        if isinstance(tcs, list):
            for tc in tcs:
                part = _tool_call_part(tc)
                if part is not None:
                    parts.append(part)
        fc = json_maybe(m.get("function_call"))
        if isinstance(fc, dict):
            parts.append(_tool_call_part(fc) or {})
    out: dict[str, Any] = {"role": role, "parts": parts}
    if m.get("name"):
        out["name"] = to_str(m["name"])
    if m.get("finish_reason"):
        out["finish_reason"] = normalize_finish_reason(m["finish_reason"])
    if len(m) > 2:
        for key, value in m.items():
            if key not in _MSG_KNOWN_KEYS and key not in out:
                out[key] = json_maybe(value)
    return out


def canon_messages(value: Any, default_role: str = "user", *, strict: bool = False) -> list[dict[str, Any]]:
    """Convert a JSON string / list / dict of messages to canonical messages; [] when not message-like.

    strict (used for free-form Langfuse input/output) requires every item to be a dict with a role.
    """
    v = json_maybe(value)
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
                out.append(canon_message(m, default_role))
        elif isinstance(m, str) and not strict:
            out.append({"role": default_role, "parts": [{"type": "text", "content": m}]})
    return out


def instructions_parts(value: Any) -> list[dict[str, Any]]:
    """Read gen_ai.system_instructions (parts list, JSON string or plain text) as parts."""
    v = json_maybe(value)
    if isinstance(v, list):
        return [p for p in map(canon_part, v) if p is not None]
    if isinstance(v, dict):
        part = canon_part(v)
        return [part] if part else []
    if isinstance(v, str) and v:
        return [{"type": "text", "content": v}]
    return []


def parts_text(parts: list[dict[str, Any]]) -> str:
    """Join the text parts of a message."""
    texts = [p.get("content", "") for p in parts if p.get("type") == "text"]
    return "\n".join(t if isinstance(t, str) else to_str(t) for t in texts)


def message_text(msg: dict[str, Any]) -> str:
    """Plain text of a message: its text parts, else a rendering of its tool calls / responses."""
    parts = msg.get("parts") or []
    text = parts_text(parts)
    if text:
        return text
    rendered = []
    for p in parts:
        t = p.get("type")
        if t == "tool_call":
            rendered.append(f"{p.get('name', '')}({to_str(p.get('arguments'))})")
        elif t == "tool_call_response":
            rendered.append(to_str(p.get("response")))
    return "\n".join(rendered)


def input_text(messages: list[dict[str, Any]]) -> str:
    """Text of the last user message (else the last message)."""
    for msg in reversed(messages):
        if msg.get("role") == "user":
            return message_text(msg)
    return message_text(messages[-1]) if messages else ""


def output_text(messages: list[dict[str, Any]]) -> str:
    """Text of the output messages, one per choice."""
    return "\n\n".join(t for t in map(message_text, messages) if t)


def system_text(messages: list[dict[str, Any]]) -> str:
    """Text of the system/developer messages."""
    return "\n".join(parts_text(m.get("parts") or []) for m in messages if m.get("role") in ("system", "developer"))


def cap_messages(messages: list[dict[str, Any]], cap: int) -> bool:
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


def text_message(role: str, text: str) -> dict[str, Any]:
    """Build a one-text-part message."""
    return {"role": role, "parts": [{"type": "text", "content": text}]}
