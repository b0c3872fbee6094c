"""The pure state machine of one rule on one slice, durations, values and formatting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.scores.metrics import BUILTIN_SPECS, FEEDBACK_SPECS
from apps.scores.selectors import MetricPoint
from apps.slis.engine import (
    FIRING,
    NO_DATA,
    OK,
    PENDING,
    RESOLVED,
    DurationInvalid,
    breached,
    duration_seconds,
    sli_point_value,
    slice_key,
    slice_text,
    state_next,
    value_format,
)

T = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def run(conditions, hold=timedelta(0), state=OK):
    started = None
    states = []
    for i, condition in enumerate(conditions):
        state, started = state_next(state=state, started_at=started, condition=condition, now=T + i * MIN, hold=hold)
        states.append(state)
    return states


def test_for_holds_the_alert_pending_until_the_condition_has_lasted():
    assert run([True, True, True, True], hold=2 * MIN) == [PENDING, PENDING, FIRING, FIRING]
    assert run([True], hold=timedelta(0)) == [FIRING]


def test_a_breach_that_stops_before_for_never_fires():
    assert run([True, False, True, True], hold=2 * MIN) == [PENDING, OK, PENDING, PENDING]


def test_recovery_resolves_and_a_new_breach_starts_over():
    assert run([True, False, False, True], hold=timedelta(0)) == [FIRING, RESOLVED, RESOLVED, FIRING]


def test_no_data_below_min_samples_from_any_state():
    assert run([True, None, None, False], hold=timedelta(0)) == [FIRING, RESOLVED, NO_DATA, OK]
    assert run([True, False, None, False], hold=timedelta(0)) == [FIRING, RESOLVED, NO_DATA, OK]
    assert run([None, True], hold=2 * MIN) == [NO_DATA, PENDING]
    assert breached(value=0.5, samples=9, comparator=">", threshold=0.1, min_samples=10) is None
    assert breached(value=None, samples=50, comparator=">", threshold=0.1, min_samples=1) is None
    assert breached(value=0.5, samples=10, comparator=">", threshold=0.1, min_samples=10) is True
    assert breached(value=0.1, samples=10, comparator=">", threshold=0.1, min_samples=10) is False
    assert breached(value=0.1, samples=10, comparator=">=", threshold=0.1, min_samples=10) is True


@given(
    st.lists(st.sampled_from([True, False, None]), min_size=1, max_size=30),
    st.integers(min_value=0, max_value=5),
)
def test_the_state_machine_fires_exactly_when_the_condition_held_for_long_enough(conditions, hold_minutes):
    hold = hold_minutes * MIN
    states = run(conditions, hold=hold)
    previous = OK
    for i, (condition, state) in enumerate(zip(conditions, states, strict=True)):
        if condition is None:  # no data: a firing alert resolves first
            assert state == (RESOLVED if previous == FIRING else NO_DATA)
        else:
            assert state != NO_DATA
        if state in (PENDING, FIRING):
            assert condition is True
        # The run of consecutive True ending here.
        run_length = 0
        while run_length <= i and conditions[i - run_length] is True:
            run_length += 1
        if condition is True:
            held = (run_length - 1) * MIN
            if previous == FIRING:
                assert state == FIRING
            else:
                assert state == (FIRING if held >= hold else PENDING)
        if state == RESOLVED:
            assert previous in (FIRING, RESOLVED)
        previous = state
    # Deterministic: replaying gives the same states (an evaluation re-run changes nothing).
    assert run(conditions, hold=hold) == states


def test_durations():
    assert [duration_seconds(d) for d in ("30s", "5m", "1h", "7d")] == [30, 300, 3600, 604800]
    for bad in ("", "5", "m", "1.5h", "5 m", "-1m", "1w"):
        with pytest.raises(DurationInvalid):
            duration_seconds(bad)


def test_values_by_aggregation():
    point = MetricPoint(T, count=10, value=0.2, pass_rate=0.75, p50=1, p95=2, p99=3, passed=6, judged=8)
    assert sli_point_value(point, "pass_rate", None) == (0.75, 8)
    assert sli_point_value(point, "fail_rate", None) == (0.25, 8)
    assert sli_point_value(point, "p95", BUILTIN_SPECS["latency_ms"]) == (2, 10)
    assert sli_point_value(point, "count", None) == (10.0, 10)
    rate = MetricPoint(T, count=10, value=0.2, pass_rate=None, p50=None, p95=None, p99=None)
    assert sli_point_value(rate, "fail_rate", FEEDBACK_SPECS["thumbs_down"]) == (0.2, 10)
    assert sli_point_value(rate, "mean", FEEDBACK_SPECS["thumbs_down"]) == (0.2, 10)
    assert sli_point_value(rate, "pass_rate", None) == (None, 0)


def test_formatting_names_the_slice():
    assert value_format(0.118, "%") == "11.8 %"
    assert value_format(1234.4, "ms") == "1234 ms"
    assert slice_key({"route": "/chat", "prompt_version": "v14"}) == "prompt_version=v14,route=/chat"
    assert slice_text({"route": "/chat", "prompt_version": "v14"}) == "prompt_version=v14, route=/chat"
    assert slice_text({}) == "all traffic"


def test_burn_rate_pairs_need_both_windows_above_their_factor():
    from apps.slis.engine import burn_condition

    fast = {"1h": (20.0, 500), "5m": (30.0, 40), "6h": (3.0, 3000), "30m": (4.0, 250)}
    assert burn_condition(fast, min_samples=10) == (True, 20.0, 500)
    recovered = {**fast, "5m": (2.0, 40)}  # the short window says it stopped: no page
    assert burn_condition(recovered, min_samples=10) == (False, 20.0, 500)
    slow = {"1h": (7.0, 500), "5m": (8.0, 40), "6h": (6.5, 3000), "30m": (7.0, 250)}
    assert burn_condition(slow, min_samples=10) == (True, 6.5, 500)
    assert burn_condition({"1h": (50.0, 5), "5m": (50.0, 5)}, min_samples=10) == (None, 50.0, 5)
