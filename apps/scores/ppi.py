"""Prediction-powered inference (Angelopoulos et al., 2023) for a judged pass rate: pure functions, no queries.

A judge's pass rate over all judged traces carries the judge's bias. Human labels on a random sample measure it:

    corrected = judge mean over the N judged traces + mean(human − judge) over the n labeled traces
    variance  = p̂ (1 − p̂) / N + s²(human − judge) / n        (the two parts are estimated independently)
    95 % CI   = corrected ± z₀.₉₇₅ · √variance

The second term (the "rectifier") is unbiased for the judge's error on the population as long as the labeled
traces are a uniform random sample of the judged ones; routed review items are not, and must not be used.
The labeled traces are also counted among the N judged ones: with n ≪ N the dependence this adds is negligible.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

MIN_LABELED = 2  # a sample variance needs two differences; below it there is no interval


@dataclass(frozen=True)
class Rectifier:
    """The judge's measured error on the labeled sample: n pairs, mean(human − judge) and its sample variance."""

    n: int
    mean: float
    variance: float  # s², with n − 1 in the denominator; 0.0 when n < 2


@dataclass(frozen=True)
class PpiEstimate:
    """A bias-corrected pass rate with its interval (clipped to [0, 1]) and the sample behind the correction."""

    rate: float
    ci_low: float
    ci_high: float
    n_labeled: int
    std_error: float


def rectifier_from_pairs(pairs: Iterable[tuple[bool, bool]]) -> Rectifier:
    """Return mean and sample variance of (human − judge) over (human passed, judge passed) pairs."""
    diffs = [int(human) - int(judge) for human, judge in pairs]
    n = len(diffs)
    if n == 0:
        return Rectifier(0, 0.0, 0.0)
    mean = sum(diffs) / n
    variance = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    return Rectifier(n, mean, variance)


def z_value(confidence: float) -> float:
    """Return the two-sided normal quantile of a confidence level (1.959964 for 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def ppi_unclipped(
    *, judge_passed: int, judge_total: int, rectifier: Rectifier, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Return (estimate, standard error, half-width) of the corrected rate, without clipping to [0, 1]."""
    if judge_total <= 0:
        raise ValueError("judge_total must be positive")
    p = judge_passed / judge_total
    variance = p * (1.0 - p) / judge_total + rectifier.variance / max(rectifier.n, 1)
    std_error = math.sqrt(variance)
    return p + rectifier.mean, std_error, z_value(confidence) * std_error


def ppi_estimate(
    *, judge_passed: int, judge_total: int, rectifier: Rectifier, confidence: float = 0.95
) -> PpiEstimate | None:
    """Return the corrected pass rate and its interval, or None without verdicts or below MIN_LABELED labels.

    The estimate and bounds are clipped to [0, 1]: the true rate lies there, so clipping never loses coverage.
    """
    if judge_total <= 0 or rectifier.n < MIN_LABELED:
        return None
    estimate, std_error, half = ppi_unclipped(
        judge_passed=judge_passed, judge_total=judge_total, rectifier=rectifier, confidence=confidence
    )
    clip = lambda x: min(1.0, max(0.0, x))  # noqa: E731
    return PpiEstimate(clip(estimate), clip(estimate - half), clip(estimate + half), rectifier.n, std_error)
