"""Span times outside 1970..2100 (issue 16.7): clamped into range and flagged, never stored as given."""

from __future__ import annotations

from datetime import UTC, datetime

from apps.traces.native import native_trace_spans
from apps.traces.normalize import WARNINGS_ATTR, normalize_span
from tests.traces.test_normalize import T0, make_span

Y2100 = datetime(2100, 1, 1, tzinfo=UTC)
Y2100_NS = 4_102_444_800 * 10**9
FAR = 2**64 - 1  # the largest OTLP fixed64: the year 2554


def test_an_end_past_2100_is_clamped_and_flagged() -> None:
    n = normalize_span(make_span({}, start=T0, end=FAR))
    assert n.started_at == datetime.fromtimestamp(T0 / 1e9, UTC)
    assert n.ended_at == Y2100
    assert n.latency_ms == (Y2100_NS - T0) / 1e6
    assert n.attributes[WARNINGS_ATTR] == ["timestamp_clamped:end"]


def test_a_start_and_end_past_2100_are_both_clamped() -> None:
    n = normalize_span(make_span({}, start=FAR - 10, end=FAR))
    assert (n.started_at, n.ended_at, n.latency_ms) == (Y2100, Y2100, 0.0)
    assert n.attributes[WARNINGS_ATTR] == ["timestamp_clamped:start", "timestamp_clamped:end"]


def test_a_start_past_2100_with_no_end_is_clamped() -> None:
    n = normalize_span(make_span({}, start=Y2100_NS + 1, end=0))
    assert n.started_at == n.ended_at == Y2100
    assert set(n.attributes[WARNINGS_ATTR]) == {"timestamp_clamped:start", "timestamp_clamped:end"}


def test_times_up_to_2100_are_kept_unflagged() -> None:
    n = normalize_span(make_span({}, start=Y2100_NS - 1000, end=Y2100_NS))
    assert n.ended_at == Y2100
    assert WARNINGS_ATTR not in n.attributes
    early = normalize_span(make_span({}, start=1, end=2_000))  # 1970, in range (a time sent in seconds, say)
    assert early.started_at.year == 1970
    assert WARNINGS_ATTR not in early.attributes


def test_zero_start_still_means_unset() -> None:
    """Unchanged behaviour: no start takes the end; no start and no end take the time of ingest."""
    n = normalize_span(make_span({}, start=0, end=T0))
    assert n.started_at == n.ended_at == datetime.fromtimestamp(T0 / 1e9, UTC)
    before = datetime.now(UTC).replace(microsecond=0)
    both = normalize_span(make_span({}, start=0, end=0))
    assert before <= both.started_at == both.ended_at <= datetime.now(UTC)
    assert WARNINGS_ATTR not in both.attributes


def test_native_rest_times_are_clamped_both_ways() -> None:
    spans = native_trace_spans(
        {
            "trace_id": "0af7651916cd43dd8448eb211c80319c",
            "started_at": datetime(1900, 1, 1, tzinfo=UTC),
            "ended_at": datetime(2500, 1, 1, tzinfo=UTC),
            "spans": [],
        }
    )
    root = spans[0]
    assert (root.started_at, root.ended_at) == (datetime(1970, 1, 1, tzinfo=UTC), Y2100)
    assert root.latency_ms == (Y2100 - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1000
    assert root.attributes[WARNINGS_ATTR] == ["timestamp_clamped:start", "timestamp_clamped:end"]
