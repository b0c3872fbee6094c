"""Agreement between two raters: Cohen's kappa (pure computation, no database)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence


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
