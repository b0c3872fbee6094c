"""Agreement between two raters: Cohen's kappa, and for pass/fail the confusion matrix (pure computation)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Return Cohen's κ of (rater A, rater B) label pairs; None without pairs or when chance agreement is total.

    κ = (p_o − p_e) / (1 − p_e): p_o is the observed share of agreeing pairs, p_e the agreement expected by
    chance from each rater's own label frequencies.
    """
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(1 for a, b in pairs if a == b) / n
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    expected = sum(first[label] * second[label] for label in first.keys() | second.keys()) / (n * n)
    if expected >= 1.0:
        return None  # both raters used one and the same label throughout: κ is undefined
    return (observed - expected) / (1.0 - expected)


Z_95 = 1.959964  # the standard normal's 97.5 % quantile


@dataclass(frozen=True)
class BinaryAgreement:
    """How a rater (a judge) agrees with a reference (humans) on pass/fail; "positive" means pass."""

    n: int
    tp: int  # both pass
    fp: int  # rater pass, reference fail
    fn: int  # rater fail, reference pass
    tn: int  # both fail
    accuracy: float | None
    kappa: float | None
    kappa_low: float | None  # 95 % interval, analytic (Cohen 1960's large-sample standard error)
    kappa_high: float | None
    tpr: float | None  # of the reference's passes, the share the rater passed
    tnr: float | None  # of the reference's fails, the share the rater failed


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def binary_agreement(pairs: Sequence[tuple[bool, bool]]) -> BinaryAgreement:
    """Return the confusion matrix, accuracy, TPR, TNR and Cohen's κ with its 95 % interval of (rater, reference).

    The interval is κ ± 1.96·SE with SE = √(p_o(1 − p_o) / (n(1 − p_e)²)), clipped to [−1, 1]; it is None when κ is.
    """
    tp = sum(1 for r, h in pairs if r and h)
    fp = sum(1 for r, h in pairs if r and not h)
    fn = sum(1 for r, h in pairs if not r and h)
    tn = sum(1 for r, h in pairs if not r and not h)
    n = tp + fp + fn + tn
    kappa = cohen_kappa([(bool(r), bool(h)) for r, h in pairs])
    low = high = None
    if kappa is not None:
        observed = (tp + tn) / n
        expected = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
        se = math.sqrt(observed * (1 - observed) / (n * (1 - expected) ** 2))
        low, high = max(-1.0, kappa - Z_95 * se), min(1.0, kappa + Z_95 * se)
    return BinaryAgreement(
        n=n,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        accuracy=_share(tp + tn, n),
        kappa=kappa,
        kappa_low=low,
        kappa_high=high,
        tpr=_share(tp, tp + fn),
        tnr=_share(tn, tn + fp),
    )
