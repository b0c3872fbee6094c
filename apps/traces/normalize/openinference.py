"""OpenInference (flattened `llm.*`, `retrieval.*`, `evaluations.*`): provider, messages, prompts, evaluations."""

from __future__ import annotations

from typing import Any

from apps.traces import genai_aliases as A
from apps.traces.normalize.messages import canon_message
from apps.traces.normalize.values import to_float, to_str


def openinference_provider(provider: Any, system: Any) -> str:
    """Combine OpenInference llm.provider (host) and llm.system (vendor) into one OTel provider."""
    p = to_str(provider).strip().lower()
    s = to_str(system).strip().lower()
    if p == "azure":
        return "azure.ai.openai" if s in ("", "openai") else "azure.ai.inference"
    if p == "aws":
        return "aws.bedrock"
    if p == "google":
        return "gcp.vertex_ai" if s in ("vertexai", "vertex_ai") else "gcp.gen_ai"
    if p:
        return A.PROVIDER_ALIASES.get(p, p)
    return A.PROVIDER_ALIASES.get(s, s)


def oi_message(entry: Any, default_role: str) -> dict[str, Any] | None:
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
    return canon_message(d, default_role)


def prompt_text(entry: Any) -> str:
    """Text of an OpenInference llm.prompts / llm.choices entry (string or {prompt|completion: {text}})."""
    if isinstance(entry, dict):
        inner = entry.get("prompt") or entry.get("completion") or entry
        if isinstance(inner, dict):
            return to_str(inner.get("text", ""))
        return to_str(inner)
    return to_str(entry)


def evaluation(entry: Any) -> dict[str, Any] | None:
    """Normalize an OpenInference evaluations.{i}.evaluation / annotations.{i}.annotation entry."""
    if not isinstance(entry, dict):
        return None
    e = entry.get("evaluation") or entry.get("annotation") or entry
    if not isinstance(e, dict) or not e.get("name"):
        return None
    return {
        "name": to_str(e.get("name")),
        "score": to_float(e.get("score")),
        "label": to_str(e.get("label")),
        "explanation": to_str(e.get("explanation")),
    }
