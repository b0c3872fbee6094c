"""Rubrics: what an LLM judge grades, on which scale, and a version that changes when any of it does.

Pure Python: the Django `Judge` model stores a rubric's fields and rebuilds a `Rubric` from them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Final, Literal, cast

Scale = Literal["binary", "likert5"]
SCALES: Final[tuple[str, ...]] = ("binary", "likert5")

# Bump whenever the judge prompt in apps/judges/llm.py (instructions, block layout, output format)
# changes: it is part of every rubric version, so verdicts from an old prompt never mix with new ones.
# tests/judges/test_llm.py pins a fingerprint of the template text to catch a forgotten bump.
PROMPT_TEMPLATE_VERSION: Final[str] = "2025-01.1"

DEFAULT_LIKERT_PASS_THRESHOLD: Final[int] = 4

# What a judge's score value means on each scale, declared once (evaluators turn it into the metric's MetricSpec):
# (unit, how values read, whether the mean says more than the pass rate). Higher is better on both.
SCALE_VALUES: Final[dict[str, tuple[str, tuple[tuple[float, str], ...], bool]]] = {
    "binary": ("", ((1.0, "pass"), (0.0, "fail")), False),
    "likert5": ("points, 1–5", ((5.0, "best"), (1.0, "worst")), True),
}
MAX_NAME_CHARS: Final[int] = 100
MAX_CRITERIA_CHARS: Final[int] = 4000


@dataclass(frozen=True)
class Rubric:
    """One grading rubric; `version` is derived from everything that changes a verdict's meaning."""

    name: str
    scale: Scale
    criteria: str
    requires_context: bool = False
    # likert5: a score >= threshold passes (default 4). binary: always None, "pass" passes.
    pass_threshold: int | None = None
    version: str = field(init=False)

    def __post_init__(self) -> None:
        """Validate the fields, resolve the default threshold and derive the version."""
        _validate(self.name, self.scale, self.criteria, self.pass_threshold)
        if self.scale == "likert5" and self.pass_threshold is None:
            object.__setattr__(self, "pass_threshold", DEFAULT_LIKERT_PASS_THRESHOLD)
        object.__setattr__(self, "version", rubric_version(self))


def rubric_version(rubric: Rubric) -> str:
    """Return a short stable hash of the rubric's grading fields and the prompt template version."""
    # Canonical JSON, so the hash never depends on dict order or Python's repr.
    material = json.dumps(
        {
            "name": rubric.name,
            "scale": rubric.scale,
            "criteria": rubric.criteria,
            "requires_context": rubric.requires_context,
            "pass_threshold": rubric.pass_threshold,
            "prompt_template": PROMPT_TEMPLATE_VERSION,
        },
        sort_keys=True,
        ensure_ascii=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:12]


def _validate(name: str, scale: str, criteria: str, pass_threshold: int | None) -> None:
    """Raise ValueError naming the first invalid field."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name: must be a non-empty string")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"name: must be at most {MAX_NAME_CHARS} characters")
    if scale not in SCALES:
        raise ValueError(f"scale: must be one of {', '.join(SCALES)}, not {scale!r}")
    if not isinstance(criteria, str) or not criteria.strip():
        raise ValueError("criteria: must be a non-empty string")
    if len(criteria) > MAX_CRITERIA_CHARS:
        raise ValueError(f"criteria: must be at most {MAX_CRITERIA_CHARS} characters")
    if scale == "binary" and pass_threshold is not None:
        raise ValueError("pass_threshold: a binary rubric passes on a 'pass' verdict; leave it unset")
    if scale == "likert5" and pass_threshold is not None:
        if isinstance(pass_threshold, bool) or not isinstance(pass_threshold, int) or not 1 <= pass_threshold <= 5:
            raise ValueError("pass_threshold: must be an integer from 1 to 5")


def custom_rubric(
    name: str,
    criteria: str,
    scale: str,
    *,
    requires_context: bool = False,
    pass_threshold: int | None = None,
) -> Rubric:
    """Return a user-defined rubric, raising ValueError that names the invalid field."""
    _validate(name, scale, criteria, pass_threshold)
    return Rubric(
        name=name.strip(),
        scale=cast(Scale, scale),  # checked by _validate
        criteria=criteria.strip(),
        requires_context=requires_context,
        pass_threshold=pass_threshold,
    )


HELPFULNESS = Rubric(
    name="helpfulness",
    scale="likert5",
    criteria=(
        "How well the answer helps the user accomplish what they asked. A helpful answer is correct as far "
        "as you can tell, complete enough to act on, specific rather than generic, and concise. Refusing a "
        "reasonable request, padding, or answering a different question lowers the score."
    ),
)

FAITHFULNESS = Rubric(
    name="faithfulness",
    scale="binary",
    criteria=(
        "Every factual claim in the answer is supported by the retrieved context. Pass only if no claim "
        "contradicts the context or adds facts the context does not contain; statements that the context "
        "does not cover the question are allowed. Fail on any unsupported or contradicted claim."
    ),
    requires_context=True,
)

ANSWER_RELEVANCE = Rubric(
    name="answer_relevance",
    scale="likert5",
    criteria=(
        "Does the answer address the question that was asked? Judge relevance only, not correctness: "
        "5 answers the question directly and fully, 3 is partly on topic or answers only part of it, "
        "1 ignores the question or talks about something else."
    ),
)

BUILTIN_RUBRICS: Final[dict[str, Rubric]] = {r.name: r for r in (HELPFULNESS, FAITHFULNESS, ANSWER_RELEVANCE)}
