"""The Check contract, its config error, and small helpers for cleaning config values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from apps.evaluators.subject import CheckResult, Subject
from apps.scores.metrics import Direction

EXPLANATION_LIMIT = 500
INITIAL_LOGIC_VERSION = "1"  # the logic of every check before logic versions existed


class CheckConfigError(Exception):
    """A check's config is invalid; `field` names the offending option."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Check:
    """One programmatic check: validate its config, decide if it applies, and score a subject.

    `applies` and `run` accept either a cleaned config (from `validate_config`) or a raw one that
    has already been validated once: missing options fall back to `defaults`.
    """

    kind: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    # Bump when what the check computes changes; it enters the evaluator version (see config_version), so the
    # scores of the new logic are told apart from the old and recent traffic can be re-scored in one click.
    logic_version: ClassVar[str] = INITIAL_LOGIC_VERSION
    # What a score's value means, declared once here and read by every page (apps/scores/metrics.MetricSpec):
    # which way it is better, its unit, how values read, and whether its mean says more than the pass rate.
    value_direction: ClassVar[Direction] = Direction.HIGHER_IS_BETTER
    value_unit: ClassVar[str] = ""
    value_labels: ClassVar[tuple[tuple[float, str], ...]] = ((1.0, "pass"), (0.0, "fail"))
    mean_informative: ClassVar[bool] = False  # 1/0 restates pass/fail: its mean is the pass rate again

    def validate_config(self, config: Mapping[str, Any] | None) -> dict[str, Any]:
        """Return the config with defaults filled in, or raise CheckConfigError naming the bad field."""
        if config is None:
            config = {}
        if not isinstance(config, Mapping):
            raise CheckConfigError("config", "must be an object")
        unknown = sorted(set(config) - set(self.defaults))
        if unknown:
            allowed = ", ".join(sorted(self.defaults)) or "none"
            raise CheckConfigError(unknown[0], f"unknown option for {self.kind} (allowed: {allowed})")
        return self.clean({**self.defaults, **config})

    def clean(self, config: dict[str, Any]) -> dict[str, Any]:
        """Check and normalise option values; subclasses override."""
        return config

    def with_defaults(self, config: Mapping[str, Any] | None) -> dict[str, Any]:
        """Return config merged over the defaults without validating (the hot path)."""
        return {**self.defaults, **config} if config else dict(self.defaults)

    def applies(self, subject: Subject, config: Mapping[str, Any]) -> bool:
        """Return whether this check has anything to say about the subject."""
        return True

    def run(self, subject: Subject, config: Mapping[str, Any]) -> CheckResult:
        """Score the subject."""
        raise NotImplementedError


# --- config value helpers -------------------------------------------------------------------


def clean_bool(config: dict[str, Any], field: str) -> None:
    """Require config[field] to be a boolean."""
    if not isinstance(config[field], bool):
        raise CheckConfigError(field, "must be true or false")


def clean_int(config: dict[str, Any], field: str, *, minimum: int = 0, optional: bool = False) -> None:
    """Require config[field] to be an integer ≥ minimum (or None when optional)."""
    value = config[field]
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise CheckConfigError(field, "must be a whole number")
    if value < minimum:
        raise CheckConfigError(field, f"must be at least {minimum}, got {value}")


def clean_share(config: dict[str, Any], field: str, *, allow_zero: bool = True) -> None:
    """Require config[field] to be a number in [0, 1] (or (0, 1] without allow_zero); store it as float."""
    value = config[field]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CheckConfigError(field, "must be a number between 0 and 1")
    if not (0.0 <= value <= 1.0) or (value == 0 and not allow_zero):
        bound = "0" if allow_zero else "above 0"
        raise CheckConfigError(field, f"must be between {bound} and 1, got {value}")
    config[field] = float(value)


def clean_choice(config: dict[str, Any], field: str, choices: tuple[str, ...]) -> None:
    """Require config[field] to be one of choices."""
    if config[field] not in choices:
        raise CheckConfigError(field, f"must be one of {', '.join(choices)}, got {config[field]!r}")


# --- explanation helpers --------------------------------------------------------------------


def clip(text: str, limit: int = 80) -> str:
    """Return text on one line, cut to limit characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def finish(value: float, passed: bool | None, label: str, explanation: str) -> CheckResult:
    """Build a CheckResult, keeping the explanation under the length limit."""
    if len(explanation) > EXPLANATION_LIMIT:
        explanation = explanation[: EXPLANATION_LIMIT - 1].rstrip() + "…"
    return CheckResult(value=float(value), passed=passed, label=label, explanation=explanation)


def join_limited(parts: list[str], limit: int, render: Callable[[str], str] = str) -> str:
    """Join up to limit rendered parts with '; ' and say how many were left out."""
    shown = "; ".join(render(p) for p in parts[:limit])
    rest = len(parts) - limit
    return f"{shown}; and {rest} more" if rest > 0 else shown
