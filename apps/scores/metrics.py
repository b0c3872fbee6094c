"""What each metric is: its kind, direction and unit, declared once by whoever produces it.

Charts, tables, the metrics API and SLI evaluation read a metric's `MetricSpec` through
`apps.scores.selectors.metric_spec_get`, so a refusal rate and a pass rate of the same check are never
shown side by side. Sources declare here:
- the built-in trace metrics (this module);
- the feedback source's score names (this module, since `feedback` is a Score source scores owns);
- evaluators, per project, through `metric_spec_provider_register` (apps/evaluators registers one at startup:
  scores cannot import evaluators).
A score name nobody declared is described from its data: binary when it carries pass/fail verdicts.

Beside the headline (a pass rate, a rate, a mean), a declaration says what one score's *value* means: which way
it is better (`refusal` is 1 when the model refused, so lower is better although its pass rate is higher-is-
better), its unit, how each value reads ("1 = refused (fail)"), and whether its mean says anything the pass rate
does not. The trace page, the evaluators page, the trace filters and the charts all read these fields.
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
    # What one score's value means (the headline may be a pass rate of it): which way the value is better (None:
    # the headline's direction), its unit, how values read ((value, text) pairs, e.g. (1.0, "refused (fail)")),
    # and whether the mean of the values adds to the pass rate (False when the value only restates the verdict).
    value_direction: Direction | None = None
    value_unit: str = ""
    value_labels: tuple[tuple[float, str], ...] = ()
    mean_informative: bool = True
    # The declaring evaluator's versions, oldest first: version_label("3f2a…") reads "v2".
    versions: tuple[str, ...] = ()

    @property
    def headline(self) -> str:
        """The field that summarises the metric: `pass_rate`, `value` or `count`."""
        return {MetricKind.BINARY: "pass_rate", MetricKind.COUNT: "count"}.get(self.kind, "value")

    @property
    def display_name(self) -> str:
        """The name people read: the declared label, else the metric's name."""
        return self.label or self.name

    @property
    def value_better(self) -> Direction:
        """Which way one score's value is better."""
        return self.value_direction or self.direction

    @property
    def value_direction_text(self) -> str:
        """'higher is better', 'lower is better' or '' for a neutral value."""
        return DIRECTION_TEXT.get(self.value_better, "")

    @property
    def value_meaning(self) -> str:
        """How the values read, in one line: '1 = refused (fail) · 0.5 = partly refused (pass) · 0 = answered'."""
        parts = [f"{number_text(v)} = {text}" for v, text in self.value_labels]
        if self.value_unit:
            parts.append(f"in {self.value_unit}")
        if self.value_direction_text:
            parts.append(self.value_direction_text)
        return " · ".join(parts)

    def value_text(self, value: float | None) -> str:
        """What one value says ('refused (fail)'), '' when the declaration names no such value."""
        if value is None:
            return ""
        return next((text for v, text in self.value_labels if abs(v - value) < 1e-9), "")

    def version_label(self, version: str) -> str:
        """A short label for one of the declaring evaluator's versions: 'v3', else the hash's first 7 characters."""
        if version in self.versions:
            return f"v{self.versions.index(version) + 1}"
        return version_short(version)

    def worse(self, change: float | None) -> float:
        """How much worse a change of the headline is (positive = worse), for sorting slices."""
        if change is None:
            return 0.0
        if self.direction == Direction.HIGHER_IS_BETTER:
            return -change
        if self.direction == Direction.LOWER_IS_BETTER:
            return change
        return 0.0


DIRECTION_TEXT = {Direction.HIGHER_IS_BETTER: "higher is better", Direction.LOWER_IS_BETTER: "lower is better"}
HASH_SHORT = 7  # characters of a version hash shown; the full hash is in the title


def number_text(value: float) -> str:
    """A value as people write it: 1, 0.5, 4."""
    return f"{value:g}"


def version_short(version: str) -> str:
    """A version's short form: a hash's first 7 characters; other versions ('reviewer:12', 'v2') as they are."""
    if len(version) > HASH_SHORT and all(c in "0123456789abcdef" for c in version.lower()):
        return version[:HASH_SHORT]
    return version


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
        MetricSpec(
            "thumbs_down", MetricKind.RATE, Direction.LOWER_IS_BETTER, "%", "Thumbs-down rate", "feedback",
            value_labels=((1.0, "thumbs down (fail)"), (0.0, "thumbs up (pass)")), mean_informative=False,
        ),
        MetricSpec(
            "regenerated", MetricKind.COUNT, Direction.LOWER_IS_BETTER, "", "Regenerated", "feedback",
            value_labels=((1.0, "regenerated (fail)"),), mean_informative=False,
        ),
        MetricSpec(
            "rephrased", MetricKind.COUNT, Direction.LOWER_IS_BETTER, "", "Rephrased", "feedback",
            value_labels=((1.0, "rephrased (fail)"),), mean_informative=False,
        ),
        MetricSpec(
            "abandoned", MetricKind.COUNT, Direction.LOWER_IS_BETTER, "", "Abandoned", "feedback",
            value_labels=((1.0, "abandoned (fail)"),), mean_informative=False,
        ),
        MetricSpec(
            "rating", MetricKind.CONTINUOUS, Direction.HIGHER_IS_BETTER, "", "Rating", "feedback", has_quantiles=True,
            value_unit="stars, 1–5",
        ),
    )
}  # fmt: skip

# Scores reviewers write (apps/review): each reviewer's label, and the trace's consensus, whose value is the share
# of its reviewers who passed it (0.5 with a tie, a "disputed" verdict without pass/fail).
HUMAN_SPECS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        MetricSpec(
            "human_verdict", MetricKind.BINARY, Direction.HIGHER_IS_BETTER, "%", "Human verdict", "human",
            value_unit="share of reviewers who passed it", mean_informative=False,
            value_labels=((1.0, "every reviewer passed it"), (0.5, "disputed"), (0.0, "every reviewer failed it")),
        ),
        MetricSpec(
            "human_label", MetricKind.BINARY, Direction.HIGHER_IS_BETTER, "%", "Reviewer label", "human",
            value_labels=((1.0, "pass"), (0.0, "fail")), mean_informative=False,
        ),
    )
}  # fmt: skip

# The declarations of the sources scores owns, by score name (feedback and review write through scores' services).
SOURCE_SPECS: dict[str, MetricSpec] = {**FEEDBACK_SPECS, **HUMAN_SPECS}

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
