"""Template filters of the SLI pages."""

from __future__ import annotations

from django import template

from apps.slis.engine import value_format

register = template.Library()


@register.filter
def sli_value(value: float | None, unit: str) -> str:
    """Show an SLI value with its unit (rates as percentages)."""
    return value_format(value, unit or "")
