"""Mergeable quantile sketches stored in rollup rows: DDSketch buckets in a compact encoding SQL can build and merge.

A rollup row keeps a DDSketch (the `ddsketch` package's LogarithmicMapping, relative accuracy 1 %) as two
arrays: sorted bucket ordinals and their counts. PostgreSQL computes the ordinals in the same
`INSERT … SELECT` that recomputes a bucket from its rows, and merges sketches by summing counts per ordinal,
so no row ever travels through Python to be rolled up. An ordinal folds DDSketch's three stores into one
order-preserving integer: negative values, zero (|x| below the mapping's smallest distinguishable value),
positive values.

Any quantile read back is within `RELATIVE_ACCURACY` of the exact value at the same rank (DDSketch's
guarantee: rank = q·(n−1), the ⌊rank⌋-th smallest value).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate

from ddsketch import DDSketch
from ddsketch.mapping import LogarithmicMapping

RELATIVE_ACCURACY = 0.01
MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
# Keys of representable doubles lie within about ±36,000 at 1 %: the offset keeps positive ordinals above 0
# and negative ones below it.
ORDINAL_OFFSET = 100_000
QUANTILES = (0.5, 0.95, 0.99)

# The ordinal of a double `x` in SQL, the same as `ordinal()` below (ceil(ln|x| / ln γ), as the mapping's key).
ORDINAL_SQL = (
    "CASE WHEN abs({x}) < {min_possible} THEN 0 "
    "WHEN {x} > 0 THEN {offset} + ceil(ln({x}) * {multiplier})::int "
    "ELSE -({offset} + ceil(ln(-({x})) * {multiplier})::int) END"
)


def ordinal_sql(expr: str) -> str:
    """Return the SQL expression of the sketch ordinal of a double expression."""
    return ORDINAL_SQL.format(
        x=expr,
        min_possible=repr(MAPPING.min_possible),
        offset=ORDINAL_OFFSET,
        multiplier=repr(1 / math.log1p(2 * RELATIVE_ACCURACY / (1 - RELATIVE_ACCURACY))),
    )


def ordinal(x: float) -> int:
    """Return the order-preserving bucket ordinal of a value."""
    if abs(x) < MAPPING.min_possible:
        return 0
    if x > 0:
        return ORDINAL_OFFSET + MAPPING.key(x)
    return -(ORDINAL_OFFSET + MAPPING.key(-x))


def ordinal_value(o: int) -> float:
    """Return the value a bucket ordinal stands for (within the relative accuracy of every value in it)."""
    if o == 0:
        return 0.0
    if o > 0:
        return MAPPING.value(o - ORDINAL_OFFSET)
    return -MAPPING.value(-o - ORDINAL_OFFSET)


def sketch_build(values: Iterable[float]) -> tuple[list[int], list[int]]:
    """Return the (ordinals, counts) sketch of values, as the rollup SQL builds it (for tests and tools)."""
    counts: dict[int, int] = {}
    for x in values:
        if x is None or not math.isfinite(x):
            continue
        o = ordinal(x)
        counts[o] = counts.get(o, 0) + 1
    keys = sorted(counts)
    return keys, [counts[k] for k in keys]


def sketch_merge(into: dict[int, int], keys: Sequence[int] | None, counts: Sequence[int] | None) -> None:
    """Add a stored sketch's buckets to a running one (ordinal → count)."""
    if keys:
        for k, n in zip(keys, counts or (), strict=True):
            into[k] = into.get(k, 0) + n


def sketch_quantiles(
    keys: Sequence[int] | None, counts: Sequence[int] | None, qs: Sequence[float] = QUANTILES
) -> list[float | None]:
    """Return the quantiles of a sketch whose ordinals are sorted (None for an empty sketch)."""
    if not keys:
        return [None] * len(qs)
    cumulative = list(accumulate(counts or ()))
    total = cumulative[-1]
    out: list[float | None] = []
    for q in qs:
        rank = q * (total - 1)
        # The first bucket whose running count exceeds the rank, as DDSketch's key_at_rank.
        index = bisect_right(cumulative, rank)
        out.append(ordinal_value(keys[min(index, len(keys) - 1)]))
    return out


def sketch_to_ddsketch(keys: Sequence[int], counts: Sequence[int]) -> DDSketch:
    """Return the stored sketch as a `ddsketch.DDSketch` (for consumers that want the library object)."""
    sketch = DDSketch(RELATIVE_ACCURACY)
    for o, n in zip(keys, counts, strict=True):
        sketch.add(ordinal_value(o), n)
    return sketch
