"""The dashboards' URL state: presets aligned on whole buckets, custom ISO ranges, and every bad value named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.dashboards.state import DashboardParamError, DashboardState

NOW = datetime(2026, 11, 30, 14, 37, 12, tzinfo=UTC)


def parse(**params: str) -> DashboardState:
    return DashboardState.from_query(params, now=NOW, default_group_by="prompt_version")


@pytest.mark.parametrize(
    ("range_", "span", "interval"),
    [
        ("1h", timedelta(hours=1), "1m"),
        ("24h", timedelta(days=1), "1h"),
        ("7d", timedelta(days=7), "1h"),
        ("30d", timedelta(days=30), "1d"),
    ],
)
def test_state_presets_cover_now_in_whole_buckets(range_, span, interval):
    state = parse(range=range_)
    assert state.interval == interval
    assert state.end - state.start == span
    assert state.start <= NOW - span + state.step and state.end > NOW  # the last bucket holds "now"
    assert state.start.timestamp() % state.step.total_seconds() == 0


def test_state_defaults_to_24h_grouped_by_the_pages_default():
    state = parse()
    assert (state.range, state.group_by, state.filters) == ("24h", "prompt_version", {})
    assert parse(group_by="none").group_by == ""


def test_state_custom_range_is_utc_and_picks_an_interval():
    state = parse(range="custom", **{"from": "2026-11-01T00:00Z", "to": "2026-11-01T06:00+02:00"})
    assert state.start == datetime(2026, 11, 1, tzinfo=UTC)
    assert state.end == datetime(2026, 11, 1, 4, tzinfo=UTC)
    assert state.interval == "5m"
    naive = parse(**{"from": "2026-11-01", "to": "2026-11-20"})  # from/to alone mean custom; no offset = UTC
    assert (naive.range, naive.interval, naive.start.tzinfo) == ("custom", "1h", UTC)


def test_state_round_trips_through_its_query_string():
    state = parse(
        range="custom",
        model="m-1",
        route="/chat",
        group_by="route",
        metric="resolved",
        **{"from": "2026-11-01T00:00Z", "to": "2026-11-02T00:00Z"},
    )
    assert DashboardState.from_query(state.as_query(), now=NOW) == state
    assert state.with_filters({"prompt_version": "v2", "bogus": "x"}).filters == {
        "model": "m-1",
        "route": "/chat",
        "prompt_version": "v2",
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"range": "forever"}, "range"),
        ({"range": "custom"}, "from"),
        ({"range": "custom", "from": "yesterday", "to": "2026-11-02"}, "from"),
        ({"range": "custom", "from": "2026-11-02", "to": "2026-11-01"}, "from"),
        ({"range": "custom", "from": "2026-11-01", "to": "99999-01-01"}, "to"),
        ({"range": "custom", "from": "2026-10-01", "to": "2026-11-30", "interval": "1m"}, "interval"),
        ({"interval": "2m"}, "interval"),
        ({"group_by": "colour"}, "group_by"),
        ({"route": "a\x00b"}, "route"),
        ({"model": "m" * 201}, "model"),
    ],
)
def test_state_names_the_bad_parameter(params, field):
    with pytest.raises(DashboardParamError) as exc:
        parse(**params)
    assert exc.value.field == field
    assert exc.value.message
