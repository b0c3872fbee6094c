"""Presentation filters for the trace browser: JSON pretty-printing, number formats, waterfall geometry."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

from django import template
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils.http import RFC3986_SUBDELIMS

from apps.core.templatetags.timefmt import iso_utc

register = template.Library()


@register.filter
def pretty_json(value: Any) -> str:
    """Return the value as indented JSON (a string that is JSON is re-indented; other strings stay as they are)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
        if isinstance(value, str):
            return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


@register.filter
def ms(value: float | None) -> str:
    """Format a duration in milliseconds: '842', '12,345' ('' when unknown)."""
    if value is None:
        return ""
    if value < 10:
        return f"{value:.1f}".rstrip("0").rstrip(".") or "0"
    return f"{value:,.0f}"


@register.filter
def usd(value: float | None) -> str:
    """Format a cost in USD with enough precision for fractions of a cent ('' when unknown)."""
    if value is None:
        return ""
    if value == 0:
        return "$0"
    if value >= 1:
        return f"${value:,.2f}"
    return f"${value:.5f}".rstrip("0")


@register.filter
def num(value: int | float | None) -> str:
    """Format a count with thousands separators ('' when unknown)."""
    return "" if value is None else f"{value:,}"


@register.filter
def blob_size(value: Any) -> str:
    """Describe a base64 payload by its decoded size."""
    n = len(value) * 3 // 4 if isinstance(value, str) else 0
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"


@register.simple_tag
def wf_bar(started_at: datetime, latency_ms: float, trace_start: datetime, total_ms: float | None) -> str:
    """Return the CSS left/width (percent of the trace) of a span's waterfall bar."""
    if not total_ms or total_ms <= 0:
        return "left:0%;width:100%"
    offset = (started_at - trace_start).total_seconds() * 1000
    left = min(max(offset / total_ms * 100, 0.0), 100.0)
    width = min(max(latency_ms / total_ms * 100, 0.0), 100.0 - left)
    return f"left:{left:.3f}%;width:{width:.3f}%"


@register.simple_tag
def wf_offset(started_at: datetime, trace_start: datetime) -> str:
    """Return how many milliseconds after the trace's start a span began."""
    return ms((started_at - trace_start).total_seconds() * 1000)


@register.filter
def utc_ms(value: datetime | None) -> str:
    """Format a time as ISO 8601 UTC with milliseconds, the UI's one format: '2025-03-14T09:26:53.120Z'."""
    return iso_utc(value, "ms")


@register.filter
def has_role(messages: Any, roles: str) -> bool:
    """Return True if any message has one of the comma-separated roles."""
    wanted = set(roles.split(","))
    return any(isinstance(m, dict) and m.get("role") in wanted for m in messages or ())


@register.filter
def message_preview(message: Any, length: int = 160) -> str:
    """Return the first characters of a message's text parts, for the summary of a collapsed message."""
    parts = message.get("parts") if isinstance(message, dict) else None
    text = " ".join(str(p.get("content", "")) for p in parts or [] if isinstance(p, dict) and p.get("type") == "text")
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"


@register.filter
def as_text_message(text: str, role: str) -> dict[str, Any]:
    """Wrap plain text as a one-part chat message, so `_message.html` renders it (session timelines)."""
    return {"role": role, "parts": [{"type": "text", "content": text}]}


@register.filter
def preview_title(trace: Any, which: str) -> str:
    """The hover text of a list cell: the preview the list read, and when it is cut, how long the whole text is."""
    if isinstance(trace, dict):  # the list's rows are `.values()` dicts
        preview = trace.get(f"{which}_preview", "")
        length = trace.get(f"{which}_length", len(preview))
    else:
        preview = getattr(trace, f"{which}_preview", "")
        length = getattr(trace, f"{which}_length", len(preview))
    if length <= len(preview):
        return preview
    return f"{preview}… ({length:,} characters; the trace page shows all of it)"


@register.filter(is_safe=True)
def clip(value: Any, length: int) -> str:
    """`truncatechars`, without its per-character walk for ASCII text (the list page clips 1,000-character previews)."""
    if isinstance(value, str) and value.isascii():
        return value if len(value) <= length else value[: length - 1] + "…"
    return truncatechars(value, length)


def list_row_cells(rows: list[dict[str, Any]], *, project_slug: str) -> list[dict[str, Any]]:
    """Add the list page's cell texts to its `.values()` rows, so the template's row is plain lookups.

    Each value is what the row's filters made (iso, clip, preview_title, ms, num, usd, the detail url); computed
    once here instead of through ~30 template lookups and a `{% url %}` per row, most of the page's Python.
    """
    placeholder = "00000000000000000000000000000000"
    url = reverse("traces:detail", args=[project_slug, placeholder])
    head, tail = url.rsplit(placeholder, 1)
    for row in rows:
        shows_error = row["status"] == "error" and not row["output_length"]
        row["url"] = head + quote(row["trace_id"], safe=RFC3986_SUBDELIMS + "/~:@") + tail
        row["started_iso"] = iso_utc(row["started_at"])
        row["name_cell"] = clip(row["name"] or row["trace_id"], 60)
        row["input_title"] = preview_title(row, "input")
        row["input_cell"] = clip(row["input_preview"], 200)
        row["shows_error"] = shows_error
        row["output_title"] = clip(row["error"], 1000) if shows_error else preview_title(row, "output")
        row["output_cell"] = clip(row["error"] if shows_error else row["output_preview"], 200)
        row["latency_cell"] = ms(row["latency_ms"])
        row["tokens_cell"] = num(row["total_tokens"])
        row["cost_cell"] = usd(row["cost"])
    return rows
