"""Retrieval documents and tool definitions, from any family, to one shape each."""

from __future__ import annotations

from typing import Any

from apps.traces.normalize.values import json_maybe, to_float, to_str


def document(d: Any) -> dict[str, Any] | None:
    """Normalize a retrieval document to {"id","content","score","metadata"}."""
    if isinstance(d, dict) and isinstance(d.get("document"), dict):
        d = d["document"]
    if not isinstance(d, dict):
        return None if d is None else {"id": "", "content": to_str(d), "score": None, "metadata": {}}
    meta = json_maybe(d.get("metadata"))
    metadata = dict(meta) if isinstance(meta, dict) else ({} if meta is None else {"metadata": meta})
    for key, value in d.items():
        if key not in ("id", "content", "score", "metadata", "page_content", "text", "document"):
            metadata[key] = value
    content = d.get("content")
    if content is None:
        content = d.get("page_content", d.get("text", d.get("document")))
    return {
        "id": to_str(d.get("id", "")),
        "content": to_str(content),
        "score": to_float(d.get("score")),
        "metadata": metadata,
    }


def tool_definition(t: Any) -> Any:
    """Normalize a tool definition to the OTel shape {"type","name","description"?,"parameters"?}."""
    t = json_maybe(t)
    if isinstance(t, dict):
        if isinstance(t.get("tool"), dict):  # OpenInference llm.tools.{i}.tool.json_schema
            t = json_maybe(t["tool"].get("json_schema", t["tool"]))
        if isinstance(t, dict) and isinstance(t.get("function"), dict):
            fn = t["function"]
            out = {"type": t.get("type", "function"), **fn}
            return out
        if isinstance(t, dict) and "type" not in t and "name" in t:
            t = {"type": "function", **t}
            if "parameters" in t:
                t["parameters"] = json_maybe(t["parameters"])
    return t
