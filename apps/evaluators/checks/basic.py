"""Shape checks on the answer text: not_empty, and regex/format (RE2 patterns and length limits)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.evaluators.checks.base import (
    Check,
    CheckConfigError,
    clean_bool,
    clean_choice,
    clean_int,
    clip,
    finish,
)
from apps.evaluators.checks.patterns import PYTHON_FLAGS, PatternError, UserPattern, compile_user_pattern
from apps.evaluators.checks.text import word_count
from apps.evaluators.subject import CheckResult, Subject

TRUNCATED_REASONS = frozenset({"length", "max_tokens", "max_output_tokens", "model_length", "token_limit"})
TOOL_CALL_REASONS = frozenset({"tool_call", "tool_calls", "tool_use", "function_call"})


class NotEmptyCheck(Check):
    """Fail on a blank answer or one the model stopped mid-way (finish_reason length/max_tokens)."""

    kind = "not_empty"
    # allow_tool_calls: a blank answer is fine when the last call ended by calling tools.
    defaults = {"allow_tool_calls": True}

    def clean(self, config: dict[str, Any]) -> dict[str, Any]:
        """Check option types."""
        clean_bool(config, "allow_tool_calls")
        return config

    def run(self, subject: Subject, config: Mapping[str, Any]) -> CheckResult:
        """Return 1.0/"ok" for a complete answer, 0.0/"empty" or 0.0/"truncated" otherwise."""
        config = self.with_defaults(config)
        reason = (subject.finish_reason or "").strip().lower()
        text = subject.output or ""
        if reason in TRUNCATED_REASONS:
            tail = clip(text[-60:], 60) if text.strip() else "(nothing)"
            return finish(
                0.0, False, "truncated",
                f"The model hit its output limit (finish_reason {reason!r}) after {len(text)} characters; "
                f"the answer ends with: {tail}. Raise max_tokens or ask for a shorter answer.",
            )  # fmt: skip
        if text.strip():
            return finish(1.0, True, "ok", f"The answer has {len(text.strip())} characters.")
        if config["allow_tool_calls"] and subject.tool_calls and (reason in TOOL_CALL_REASONS or not reason):
            names = ", ".join(sorted({c.name for c in subject.tool_calls}))
            return finish(1.0, True, "tool_calls", f"No text, but the model called tools: {clip(names, 200)}.")
        what = "whitespace only" if text else "empty"
        return finish(
            0.0, False, "empty",
            f"The answer is {what} (finish_reason {reason or 'unknown'!r}). Check the prompt, the model's "
            "stop sequences, and whether a tool or guardrail swallowed the reply.",
        )  # fmt: skip


FLAG_BITS = PYTHON_FLAGS  # the flag letters a pattern may carry: a i m s x
MAX_PATTERN_LENGTH = 2000


def compile_pattern(pattern: str, flags: str) -> UserPattern:
    """Return the compiled user pattern (RE2, linear time, input capped); cached so runs never recompile."""
    return compile_user_pattern(pattern, flags)


class RegexCheck(Check):
    """Require (or forbid) a pattern in the answer, within optional character/word length limits."""

    kind = "regex"
    defaults: dict[str, Any] = {
        "pattern": None,
        "mode": "must_match",  # or "must_not_match"
        "flags": "",  # any of i m s x a
        "full_match": False,  # the pattern must match the whole (stripped) answer
        "min_length": None,  # characters of the stripped answer
        "max_length": None,
        "min_words": None,
        "max_words": None,
    }
    pattern_required = True

    def clean(self, config: dict[str, Any]) -> dict[str, Any]:
        """Check the pattern compiles, the flags exist, and the limits are non-negative and ordered."""
        clean_choice(config, "mode", ("must_match", "must_not_match"))
        clean_bool(config, "full_match")
        flags = config["flags"]
        if not isinstance(flags, str) or any(f not in FLAG_BITS for f in flags):
            raise CheckConfigError("flags", f"must be letters from {''.join(FLAG_BITS)}, got {flags!r}")
        config["flags"] = "".join(sorted(set(flags)))
        pattern = config["pattern"]
        if pattern is None or pattern == "":
            if self.pattern_required:
                raise CheckConfigError("pattern", "is required")
            config["pattern"] = None
        elif not isinstance(pattern, str):
            raise CheckConfigError("pattern", "must be a string")
        elif len(pattern) > MAX_PATTERN_LENGTH:
            raise CheckConfigError("pattern", f"is longer than {MAX_PATTERN_LENGTH} characters")
        else:
            try:
                compile_pattern(pattern, config["flags"])
            except PatternError as exc:
                raise CheckConfigError("pattern", str(exc)) from exc
        for low, high in (("min_length", "max_length"), ("min_words", "max_words")):
            clean_int(config, low, optional=True)
            clean_int(config, high, optional=True)
            if config[low] is not None and config[high] is not None and config[low] > config[high]:
                raise CheckConfigError(low, f"must not exceed {high} ({config[low]} > {config[high]})")
        if (
            not self.pattern_required
            and config["pattern"] is None
            and all(config[k] is None for k in ("min_length", "max_length", "min_words", "max_words"))
        ):
            raise CheckConfigError("pattern", "set a pattern or at least one length limit")
        return config

    def run(self, subject: Subject, config: Mapping[str, Any]) -> CheckResult:
        """Return 1.0/"ok" when every rule holds; otherwise 0.0 labelled by the first failing rule."""
        config = self.with_defaults(config)
        text = (subject.output or "").strip()
        failures: list[tuple[str, str]] = []
        length = len(text)
        if config["min_length"] is not None and length < config["min_length"]:
            failures.append(("too_short", f"{length} characters, below the minimum of {config['min_length']}"))
        if config["max_length"] is not None and length > config["max_length"]:
            failures.append(("too_long", f"{length} characters, above the maximum of {config['max_length']}"))
        if config["min_words"] is not None or config["max_words"] is not None:
            words = word_count(text)
            if config["min_words"] is not None and words < config["min_words"]:
                failures.append(("too_short", f"{words} words, below the minimum of {config['min_words']}"))
            if config["max_words"] is not None and words > config["max_words"]:
                failures.append(("too_long", f"{words} words, above the maximum of {config['max_words']}"))
        if config["pattern"] is not None:
            compiled = compile_pattern(config["pattern"], config["flags"])
            found = compiled.fullmatch(text) if config["full_match"] else compiled.search(text)
            shown = clip(config["pattern"], 80)
            if config["mode"] == "must_match" and found is None:
                how = "match the whole answer" if config["full_match"] else "occur in the answer"
                failures.append(("no_match", f"the required pattern /{shown}/ does not {how}"))
            elif config["mode"] == "must_not_match" and found is not None:
                failures.append(("match", f"the forbidden pattern /{shown}/ matches {clip(found.group(), 80)!r}"))
        if not failures:
            return finish(1.0, True, "ok", f"The answer ({length} characters) meets every {self.kind} rule.")
        return finish(0.0, False, failures[0][0], "The answer fails: " + "; ".join(d for _, d in failures) + ".")


class FormatCheck(RegexCheck):
    """The regex check aimed at length and format limits: the pattern is optional."""

    kind = "format"
    pattern_required = False
