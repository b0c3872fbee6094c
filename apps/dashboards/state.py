"""A dashboard's whole state, read from and written back to the URL: time range, interval, group-by, filters.

Every dashboard page and panel parses the same query string, so a URL shared from the address bar shows the
same view, and htmx requests push it. Bad values raise `DashboardParamError` naming the parameter; pages show
its message (status 400), never a 500.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode

from apps.scores.rollups import DAY, HOUR, MINUTE, floor_time
from apps.scores.selectors import DIMENSION_BITS, INTERVALS, MAX_POINTS

DIMENSIONS = tuple(DIMENSION_BITS)  # model, prompt_version, route, environment
DIMENSION_LABELS = {
    "model": "Model",
    "prompt_version": "Prompt version",
    "route": "Route",
    "environment": "Environment",
}
# Preset ranges: their span, and the interval their charts use (hour and day points read one stored row each);
# `interval=` in the URL overrides it.
RANGES: dict[str, tuple[timedelta, str]] = {
    "1h": (timedelta(hours=1), "1m"),
    "24h": (timedelta(hours=24), "1h"),
    "7d": (timedelta(days=7), "1h"),
    # Days: 720 hourly points are more than a panel has pixels; a prompt release still shows as a step.
    "30d": (timedelta(days=30), "1d"),
}
RANGE_LABELS = {"1h": "1 h", "24h": "24 h", "7d": "7 d", "30d": "30 d", "custom": "Custom"}
DEFAULT_RANGE = "24h"
MAX_TEXT = 200
_ALIGN = {"1m": MINUTE, "5m": MINUTE, "1h": HOUR, "1d": DAY}
_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class DashboardParamError(ValueError):
    """A query parameter the dashboards cannot use; names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def _ceil_time(t: datetime, seconds: int) -> datetime:
    floored = floor_time(t, seconds)
    return floored if floored == t else floored + timedelta(seconds=seconds)


def _text(params: Mapping[str, str], name: str) -> str:
    value = (params.get(name) or "").strip()
    if "\x00" in value:
        raise DashboardParamError(name, "must not contain NUL characters")
    if len(value) > MAX_TEXT:
        raise DashboardParamError(name, f"at most {MAX_TEXT} characters")
    return value


def _time(params: Mapping[str, str], name: str) -> datetime:
    raw = _text(params, name)
    if not raw:
        raise DashboardParamError(name, "required for a custom range: an ISO 8601 time in UTC, e.g. 2026-11-30T08:00Z")
    try:
        value = parse_datetime(raw if ("T" in raw or " " in raw) else raw + "T00:00:00")
    except ValueError:
        value = None
    if value is None:
        raise DashboardParamError(name, f"not an ISO 8601 time: {raw[:50]!r} (e.g. 2026-11-30T08:00Z)")
    if value.tzinfo is None:  # times without an offset are UTC, like everything here
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError as exc:
        raise DashboardParamError(name, "out of range") from exc
    if not _EARLIEST <= value <= _LATEST:
        raise DashboardParamError(name, "must be between 1970 and 9000")
    return value


def _auto_interval(span: timedelta) -> str:
    """The finest of 5m, 1h, 1d that keeps a custom range's charts under MAX_POINTS (1m below 2 hours)."""
    seconds = span.total_seconds()
    if seconds <= 2 * HOUR:
        return "1m"
    if seconds <= 12 * HOUR:
        return "5m"
    return "1h" if seconds / HOUR <= MAX_POINTS else "1d"


@dataclass(frozen=True)
class DashboardState:
    """What a dashboard shows: [start, end) aligned on its interval, a split and equality filters on dimensions."""

    range: str
    start: datetime
    end: datetime
    interval: str
    group_by: str = ""
    filters: dict[str, str] = field(default_factory=dict)
    metric: str = ""
    raw_from: str = ""  # a custom range's inputs, as typed (shown back in the form)
    raw_to: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, str], *, now: datetime, default_group_by: str = "") -> DashboardState:
        """Parse the state from a query string; raise DashboardParamError naming a bad parameter."""
        range_ = _text(params, "range") or ("custom" if params.get("from") or params.get("to") else DEFAULT_RANGE)
        if range_ not in RANGE_LABELS:
            raise DashboardParamError("range", f"use one of {', '.join(RANGE_LABELS)}, not {range_[:20]!r}")
        interval = _text(params, "interval")
        if interval and interval not in INTERVALS:
            raise DashboardParamError("interval", f"use one of {', '.join(INTERVALS)}, not {interval[:20]!r}")
        raw_from = raw_to = ""
        if range_ == "custom":
            raw_from, raw_to = _text(params, "from"), _text(params, "to")
            start, end = _time(params, "from"), _time(params, "to")
            if start >= end:
                raise DashboardParamError("from", "must be before to")
            interval = interval or _auto_interval(end - start)
        else:
            span, preset_interval = RANGES[range_]
            interval = interval or preset_interval
            end = now
            start = end - span
        # Whole buckets: the range grows to its interval's rollup level, so every read is of stored rows.
        align = _ALIGN[interval]
        start, end = floor_time(start, align), _ceil_time(end, align)
        if range_ != "custom":
            start = end - RANGES[range_][0]  # a preset keeps its length: the last bucket holds "now"
            start = floor_time(start, align)
        points = math.ceil((end - start).total_seconds() / INTERVALS[interval])
        if points > MAX_POINTS:
            raise DashboardParamError(
                "interval",
                f"{points} points at {interval} in this range; at most {MAX_POINTS}: choose a wider interval",
            )
        group_by = _text(params, "group_by") if "group_by" in params else default_group_by
        if group_by == "none":
            group_by = ""
        if group_by and group_by not in DIMENSION_BITS:
            raise DashboardParamError("group_by", f"use one of {', '.join(DIMENSIONS)} or none, not {group_by[:30]!r}")
        filters = {d: v for d in DIMENSIONS if (v := _text(params, d))}
        return cls(
            range=range_,
            start=start,
            end=end,
            interval=interval,
            group_by=group_by,
            filters=filters,
            metric=_text(params, "metric"),
            raw_from=raw_from,
            raw_to=raw_to,
        )

    @property
    def step(self) -> timedelta:
        """The width of one bucket."""
        return timedelta(seconds=INTERVALS[self.interval])

    def as_query(self, **overrides: str) -> dict[str, str]:
        """Return the state as query parameters (what the URL holds); overrides replace or, when '', drop keys."""
        query: dict[str, str] = {"range": self.range}
        if self.range == "custom":
            query["from"] = self.raw_from or iso_utc(self.start)
            query["to"] = self.raw_to or iso_utc(self.end)
        if self.interval != (RANGES[self.range][1] if self.range in RANGES else ""):
            query["interval"] = self.interval
        if self.metric:
            query["metric"] = self.metric
        query["group_by"] = self.group_by or "none"
        query.update(self.filters)
        query.update(overrides)
        return {k: v for k, v in query.items() if v != ""}

    def querystring(self, **overrides: str) -> str:
        """The state as a URL query string, without the '?'."""
        return urlencode(self.as_query(**overrides))

    def with_filters(self, extra: Mapping[str, str]) -> DashboardState:
        """Return the state narrowed to a slice (its group values added to the filters)."""
        return replace(self, filters={**self.filters, **{k: v for k, v in extra.items() if k in DIMENSION_BITS}})


def iso_utc(t: datetime) -> str:
    """Format a time as ISO 8601 UTC to the minute: '2026-11-30T08:00Z'."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
