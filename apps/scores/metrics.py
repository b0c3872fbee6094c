"""What each metric is: its kind, direction and unit, declared once by whoever produces it.

Charts, tables, the metrics API and SLI evaluation read a metric's `MetricSpec` through
`apps.scores.selectors.metric_spec_get`, so a refusal rate and a pass rate of the same check are never
shown side by side. Sources declare here:
- the built-in trace metrics (this module);
- the feedback source's score names (this module, since `feedback` is a Score source scores owns);
- evaluators, per project, through `metric_spec_provider_register` (apps/evaluators registers one at startup:
  scores cannot import evaluators).
A score name nobody declared is described from its data: binary when it carries pass/fail verdicts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum


class MetricKind(StrEnum):
    BINARY = "binary"  # a pass rate: passed ÷ judged
    CONTINUOUS = "continuous"  # a mean and quantiles of a value
    RATE = "rate"  # the mean of a 0/1 value (error rate): no verdicts, no quantiles
    COUNT = "count"  # how many (traces)


class Direction(StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"
    NEUTRAL = "neutral"  # traffic: neither way is worse


@dataclass(frozen=True)
class MetricSpec:
    """One metric's declaration: what its headline number is, which way is good, and its unit."""

    name: str
    kind: MetricKind
    direction: Direction
    unit: str  # "%" for rates and pass rates, "ms", "tokens", "USD", "" for plain numbers
    label: str = ""
    source: str = ""  # who declared it: "trace", "feedback", "evaluator", "inferred"
    has_quantiles: bool = False  # the rollups keep a sketch: p50/p95/p99 apply
    judged: bool = False  # an LLM judge writes its verdicts: a bias-corrected pass rate applies (apps/scores/ppi.py)

    @property
    def headline(self) -> str:
        """The field that summarises the metric: `pass_rate`, `value` or `count`."""
        return {MetricKind.BINARY: "pass_rate", MetricKind.COUNT: "count"}.get(self.kind, "value")

    def worse(self, change: float | None) -> float:
        """How much worse a change of the headline is (positive = worse), for sorting slices."""
        if change is None:
            return 0.0
        if self.direction == Direction.HIGHER_IS_BETTER:
            return -change
        if self.direction == Direction.LOWER_IS_BETTER:
            return change
        return 0.0


# Metrics computed from traces, beside every score name. A score with one of these names is shadowed by the
# built-in (the rollups never mix the two).
BUILTIN_SPECS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        MetricSpec("traces", MetricKind.COUNT, Direction.NEUTRAL, "", "Traces", "trace"),
        MetricSpec("errors", MetricKind.RATE, Direction.LOWER_IS_BETTER, "%", "Error rate", "trace"),
        MetricSpec(
            "latency_ms", MetricKind.CONTINUOUS, Direction.LOWER_IS_BETTER, "ms", "Latency", "trace", has_quantiles=True
        ),
        MetricSpec("tokens", MetricKind.CONTINUOUS, Direction.LOWER_IS_BETTER, "tokens", "Tokens per trace", "trace"),
        MetricSpec("cost", MetricKind.CONTINUOUS, Direction.LOWER_IS_BETTER, "USD", "Cost per trace", "trace"),
    )
}
BUILTIN_METRICS = tuple(BUILTIN_SPECS)

# Scores the feedback source writes (apps/feedback). thumbs_down is 1.0 for a thumb down and 0.0 for a thumb up,
# so its mean is the thumbs-down rate: lower is better, and it reads "thumbs-down 4 %", never "not thumbs-down
# 96 %". regenerated, rephrased and abandoned are written only when the signal happened (1.0), so their mean says
# nothing: the headline is how many (a page divides by the `traces` count of the same bucket for a rate).
FEEDBACK_SPECS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        MetricSpec("thumbs_down", MetricKind.RATE, Direction.LOWER_IS_BETTER, "%", "Thumbs-down rate", "feedback"),
        MetricSpec("regenerated", MetricKind.COUNT, Direction.LOWER_IS_BETTER, "", "Regenerated", "feedback"),
        MetricSpec("rephrased", MetricKind.COUNT, Direction.LOWER_IS_BETTER, "", "Rephrased", "feedback"),
        MetricSpec("abandoned", MetricKind.COUNT, Direction.LOWER_IS_BETTER, "", "Abandoned", "feedback"),
        MetricSpec(
            "rating", MetricKind.CONTINUOUS, Direction.HIGHER_IS_BETTER, "", "Rating", "feedback", has_quantiles=True
        ),
    )
}

# Providers of per-project declarations: (project_id, names) -> {name: MetricSpec}, every metric the provider
# declares for the project when names is None. Registered at startup by higher apps (evaluators) so a metric is
# declared where it is defined.
SpecProvider = Callable[[int, Iterable[str] | None], dict[str, MetricSpec]]
_providers: list[SpecProvider] = []


def metric_spec_provider_register(provider: SpecProvider) -> None:
    """Let a higher app declare the metrics it defines (called from its AppConfig.ready)."""
    if provider not in _providers:
        _providers.append(provider)


def metric_spec_providers() -> list[SpecProvider]:
    """Return the registered per-project declaration providers."""
    return list(_providers)


def score_spec_inferred(name: str, *, judged: bool) -> MetricSpec:
    """Describe an undeclared score from its data: binary when it carries verdicts, else a continuous value."""
    if judged:
        return MetricSpec(name, MetricKind.BINARY, Direction.HIGHER_IS_BETTER, "%", name, "inferred")
    return MetricSpec(name, MetricKind.CONTINUOUS, Direction.HIGHER_IS_BETTER, "", name, "inferred", has_quantiles=True)
