"""Template helpers that read a score's declaration (apps/scores/metrics.MetricSpec): version labels, directions."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.scores.metrics import DIRECTION_TEXT, Direction, version_short

register = template.Library()

ARROWS = {Direction.HIGHER_IS_BETTER: "↑", Direction.LOWER_IS_BETTER: "↓"}


@register.simple_tag
def version_badge(version: str, spec: Any = None, css: str = "muted") -> SafeString:
    """A version as a short label ('v3', or a hash's first 7 characters) with the full version on hover."""
    if not version:
        return format_html("")
    labelled = getattr(spec, "version_label", None)  # a missing spec renders as "" in a template
    label = labelled(version) if labelled else version_short(version)
    return format_html(
        '<code class="version {}" title="{}" data-testid="version-label" data-version="{}">{}</code>',
        css,
        f"version {version}",
        version,
        label,
    )


@register.simple_tag
def direction_arrow(direction: str) -> SafeString:
    """An arrow for which way is better ('↑' higher is better), with the words on hover; nothing when neutral."""
    arrow = ARROWS.get(direction)  # a StrEnum member hashes as its string
    if arrow is None:
        return format_html("")
    return format_html(
        '<span class="dir" title="{}" data-testid="direction">{}</span>', DIRECTION_TEXT[direction], arrow
    )
