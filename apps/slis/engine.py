"""Pure pieces of alerting, no database: durations, SLI values from rollup points, the comparison, the state
machine of one rule on one slice, and formatting. Unit- and property-tested on their own."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from apps.scores.metrics import MetricKind, MetricSpec
from apps.scores.ppi import MIN_LABELED, Rectifier, ppi_estimate
from apps.scores.selectors import MetricPoint

OK, PENDING, FIRING, RESOLVED, NO_DATA = "ok", "pending", "firing", "resolved", "no_data"
STATES = (OK, PENDING, FIRING, RESOLVED, NO_DATA)
DIMENSIONS = ("model", "prompt_version", "route", "environment")
AGGREGATIONS = ("pass_rate", "fail_rate", "mean", "p50", "p95", "p99", "count", "offline_gap")
COMPARATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class DurationInvalid(ValueError):
    """Not a duration like 30s, 5m, 1h or 7d."""


def duration_seconds(text: str) -> int:
    """Return the seconds of a duration like `5m`, `1h`, `30s`, `7d`."""
    match = _DURATION.match((text or "").strip())
    if not match:
        raise DurationInvalid(f"{text!r} is not a duration: use a number and s, m, h or d (e.g. 5m, 1h)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True)
class SliValue:
    """An SLI over one slice and period: its value (None when it does not apply) and the samples behind it."""

    group: dict[str, str]
    value: float | None
    samples: int
    basis: str = ""  # for an SLI that may use the corrected rate: which one it used, and why


def sli_point_value(point: MetricPoint, aggregation: str, spec: MetricSpec | None) -> tuple[float | None, int]:
    """Return an SLI's value and sample count from a rollup point.

    Pass and fail rates use verdicts (passed ÷ judged); a 0/1 rate metric (errors, thumbs_down) has no verdicts,
    so its fail rate is its mean and its pass rate the complement.
    """
    is_rate = spec is not None and spec.kind == MetricKind.RATE
    if aggregation in ("pass_rate", "fail_rate"):
        if point.judged:
            passed = point.passed / point.judged
            return (passed if aggregation == "pass_rate" else 1.0 - passed), point.judged
        if is_rate and point.value is not None:
            return (1.0 - point.value if aggregation == "pass_rate" else point.value), point.count
        return None, 0
    if aggregation == "count":
        return float(point.count), point.count
    if aggregation == "mean":
        return point.value, point.count if point.value is not None else 0
    value = {"p50": point.p50, "p95": point.p95, "p99": point.p99}[aggregation]
    return value, point.count if value is not None else 0


def sli_corrected_value(
    point: MetricPoint, aggregation: str, rectifier: Rectifier, min_labels: int
) -> tuple[float | None, int, str]:
    """Return a judged pass/fail rate bias-corrected by the labeled sample once it holds min_labels pairs, else the
    raw one; with the sample count (judged traces) and a note saying which was used."""
    raw, samples = sli_point_value(point, aggregation, None)
    needed = max(min_labels, MIN_LABELED)
    if rectifier.n < needed:
        return raw, samples, f"raw judge rate: {rectifier.n} of {needed} labels needed to correct it"
    estimate = ppi_estimate(judge_passed=point.passed, judge_total=point.judged, rectifier=rectifier)
    if estimate is None:
        return raw, samples, "raw judge rate: no verdicts to correct"
    value = estimate.rate if aggregation == "pass_rate" else 1.0 - estimate.rate
    return value, samples, f"bias-corrected with {rectifier.n} labels"


def sli_unit(aggregation: str, spec: MetricSpec | None) -> str:
    """Return the unit of an SLI's value: % for rates (and offline gaps: points of a rate, or relative), else the
    metric's."""
    if aggregation in ("pass_rate", "fail_rate", "offline_gap"):
        return "%"
    if aggregation == "count":
        return ""
    return spec.unit if spec else ""


def value_format(value: float | None, unit: str) -> str:
    """Show a value with its unit: rates as percentages (0.118 → 11.8 %)."""
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"  # None, or a missing value a template passed on
    if unit == "%":
        return f"{value * 100:.3g} %"
    if unit == "×":  # an error-budget burn rate
        return f"{value:.1f}×"
    if unit == "ms":
        return f"{value:.0f} ms"
    if unit == "USD":
        return f"${value:.4g}"
    return f"{value:.4g}{' ' + unit if unit else ''}"


def slice_key(group: Mapping[str, str]) -> str:
    """Return the canonical text of a slice: `dim=value,…` in dimension order ("" for all traffic)."""
    return ",".join(f"{d}={group[d]}" for d in DIMENSIONS if d in group)


def slice_text(group: Mapping[str, str]) -> str:
    """Return a slice for people: `prompt_version=v14, route=/chat`, or `all traffic`."""
    return ", ".join(f"{d}={group[d] or '(none)'}" for d in DIMENSIONS if d in group) or "all traffic"


def breached(*, value: float | None, samples: int, comparator: str, threshold: float, min_samples: int) -> bool | None:
    """Whether the condition holds; None (no data) below min_samples or without a value."""
    if value is None or samples < min_samples or samples == 0:
        return None
    return bool(COMPARATORS[comparator](value, threshold))


# Multi-window burn-rate alerts (the SRE workbook): (long window, short window, burn-rate factor). A pair fires
# when both its windows burn the error budget faster than the factor: 14.4× spends 2 % of 30 days in 1 h.
BURN_PAIRS = (("1h", "5m", 14.4), ("6h", "30m", 6.0))
SLO_AGGREGATIONS = ("pass_rate", "fail_rate", "mean")


def bad_fraction(aggregation: str, value: float | None) -> float | None:
    """The share of bad events an SLI value means: 1 − a pass rate; a fail rate or a 0/1 rate as is."""
    if value is None:
        return None
    return 1.0 - value if aggregation == "pass_rate" else value


def burn_condition(
    burn: dict[str, tuple[float | None, int]], *, min_samples: int
) -> tuple[bool | None, float | None, int]:
    """Judge burn rates per window ({window: (burn rate, samples)}): whether a pair burns too fast, the burn rate
    to report (the fastest long window that breached, else the 1 h one) and the 1 h samples. None (no data) when
    no pair has min_samples in its short window."""
    judged = False
    fired: list[float] = []
    for long, short, factor in BURN_PAIRS:
        (long_rate, _), (short_rate, short_n) = burn.get(long, (None, 0)), burn.get(short, (None, 0))
        if long_rate is None or short_rate is None or short_n < min_samples:
            continue
        judged = True
        if long_rate > factor and short_rate > factor:
            fired.append(long_rate)
    hour_rate, hour_n = burn.get("1h", (None, 0))
    if not judged:
        return None, hour_rate, hour_n
    return bool(fired), max(fired) if fired else hour_rate, hour_n


def state_next(
    *, state: str, started_at: datetime | None, condition: bool | None, now: datetime, hold: timedelta
) -> tuple[str, datetime | None]:
    """Return the next state and when the condition started to hold.

    ok/resolved/no_data → pending when the condition starts to hold (→ firing at once when `hold` is zero);
    pending → firing once it has held for `hold`; firing → resolved when it stops holding; pending → ok when
    it stops before firing; any → no_data below min_samples (firing → resolved first). Resolved stays until the
    next breach.
    """
    if condition is None:
        # A firing slice that lost its traffic (a bad version rolled back) resolves first, so receivers hear the
        # end of it; the next evaluation without data moves it on to no_data.
        return (RESOLVED if state == FIRING else NO_DATA), None
    if condition:
        started = started_at if state in (PENDING, FIRING) and started_at is not None else now
        if state == FIRING or now - started >= hold:
            return FIRING, started
        return PENDING, started
    if state in (FIRING, RESOLVED):
        return RESOLVED, None
    return OK, None
