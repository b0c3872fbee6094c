"""Programmatic checks: cheap, pure-Python scorers of one Subject, keyed by kind.

Use `run_check(kind, config, subject)` for one-off runs. To score many subjects with one evaluator,
validate the config once (`CHECKS[kind].validate_config`) and call `applies`/`run` with the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.evaluators.checks.base import Check, CheckConfigError
from apps.evaluators.checks.basic import FormatCheck, NotEmptyCheck, RegexCheck
from apps.evaluators.checks.json_checks import JsonSchemaCheck, JsonValidCheck
from apps.evaluators.checks.rag import CitationsCheck, GroundingCheck
from apps.evaluators.checks.refusal import RefusalCheck, detect_refusal
from apps.evaluators.checks.tools import ToolCallValidCheck
from apps.evaluators.subject import CheckResult, Subject

CHECKS: dict[str, Check] = {
    check.kind: check
    for check in (
        NotEmptyCheck(),
        RefusalCheck(),
        JsonValidCheck(),
        JsonSchemaCheck(),
        RegexCheck(),
        FormatCheck(),
        CitationsCheck(),
        GroundingCheck(),
        ToolCallValidCheck(),
    )
}
# The checks worth running on every trace with their default config (each skips traces it does not apply to).
DEFAULT_KINDS: tuple[str, ...] = ("not_empty", "refusal", "json_valid", "citations", "grounding", "tool_call_valid")


def get_check(kind: str) -> Check:
    """Return the check for kind, or raise CheckConfigError naming the unknown kind."""
    try:
        return CHECKS[kind]
    except KeyError:
        raise CheckConfigError("kind", f"unknown check {kind!r} (known: {', '.join(sorted(CHECKS))})") from None


def run_check(kind: str, config: Mapping[str, Any] | None, subject: Subject) -> CheckResult | None:
    """Validate config, then score subject with the check; None when the check does not apply."""
    check = get_check(kind)
    cleaned = check.validate_config(config)
    if not check.applies(subject, cleaned):
        return None
    return check.run(subject, cleaned)


__all__ = ["CHECKS", "DEFAULT_KINDS", "Check", "CheckConfigError", "detect_refusal", "get_check", "run_check"]
