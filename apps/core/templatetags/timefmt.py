"""The one time format of the UI: ISO 8601 in UTC (`2025-03-14T09:26:53Z`), whatever the precision."""

from __future__ import annotations

from datetime import UTC, datetime

from django import template

register = template.Library()

PRECISIONS = {"minutes": "%Y-%m-%dT%H:%MZ", "seconds": "%Y-%m-%dT%H:%M:%SZ"}


def iso_utc(value: datetime | None, precision: str = "seconds") -> str:
    """Return the time as ISO 8601 UTC with a Z: to the minute, the second (default) or the millisecond ('ms')."""
    if value is None or value == "":
        return ""
    if not isinstance(value, datetime):
        return str(value)
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if precision == "ms":
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime(PRECISIONS.get(precision, PRECISIONS["seconds"]))


register.filter("iso", iso_utc)
