"""Forms of the evaluator pages: the definition (turned into an EvaluatorSpec), preview and backfill ranges."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.evaluators.checks import CHECKS
from apps.evaluators.models import Evaluator
from apps.evaluators.services import FILTER_KEYS, EvaluatorSpec
from apps.judges.rubrics import BUILTIN_RUBRICS
from apps.projects.models import Project

# A working starting point per kind, prefilled into the config textarea when the kind is chosen.
CONFIG_EXAMPLES: dict[str, dict[str, Any]] = {
    Evaluator.Kind.NOT_EMPTY: {"allow_tool_calls": True},
    Evaluator.Kind.REFUSAL: {"opening_sentences": 3, "short_answer_words": 60, "partial_min_words": 10},
    Evaluator.Kind.JSON_VALID: {"allow_fenced": True, "always": False},
    Evaluator.Kind.JSON_SCHEMA: {
        "schema": {
            "type": "object",
            "required": ["answer", "sources"],
            "properties": {"answer": {"type": "string"}, "sources": {"type": "array", "items": {"type": "string"}}},
        }
    },
    Evaluator.Kind.REGEX: {"pattern": "as an AI (language )?model", "mode": "must_not_match", "flags": "i"},
    Evaluator.Kind.FORMAT: {"max_words": 250, "min_length": 1},
    Evaluator.Kind.CITATIONS: {"min_words_to_require": 12, "require_citations": True},
    Evaluator.Kind.GROUNDING: {"threshold": 0.6, "min_share": 0.8},
    Evaluator.Kind.TOOL_CALL_VALID: {},
    Evaluator.Kind.LLM_JUDGE: {"rubric": "helpfulness"},
}

KIND_HELP: dict[str, str] = {
    Evaluator.Kind.NOT_EMPTY: "Fails blank or truncated answers (finish reason 'length').",
    Evaluator.Kind.REFUSAL: (
        "Labels answers that refuse (fully or partly) to help, in en, es, fr, de, pt, it, nl, ja, zh and ko; "
        "other languages are labelled unknown_language (no pass/fail)."
    ),
    Evaluator.Kind.JSON_VALID: "The answer parses as JSON; by default only where the request asked for JSON.",
    Evaluator.Kind.JSON_SCHEMA: "The answer parses as JSON and validates against the JSON Schema in schema.",
    Evaluator.Kind.REGEX: "Requires (mode must_match) or forbids (must_not_match) a pattern in the answer; "
    "flags from imsxa; optional character and word limits.",
    Evaluator.Kind.FORMAT: "Length and format limits; the pattern is optional.",
    Evaluator.Kind.CITATIONS: "Substantial answers on traces with retrieved documents must cite them.",
    Evaluator.Kind.GROUNDING: "Share of the answer's claims supported by a retrieved document "
    "(threshold: word overlap a claim needs, min_share: share of claims needed to pass).",
    Evaluator.Kind.TOOL_CALL_VALID: "Tool calls name declared tools and their arguments match the schema.",
    Evaluator.Kind.LLM_JUDGE: "A pinned judge grades each sampled trace. Name a built-in rubric ("
    + ", ".join(BUILTIN_RUBRICS)
    + ') or your own: {"criteria": "…", "scale": "binary" | "likert5"}. Preview runs the judge on at most 3 traces.',
}


def config_example(kind: str) -> str:
    """Return the example config of a kind as indented JSON."""
    return json.dumps(CONFIG_EXAMPLES.get(kind, {}), indent=2)


def config_options(kind: str) -> dict[str, Any]:
    """Return a check's options with their defaults (empty for llm_judge)."""
    check = CHECKS.get(kind)
    return dict(check.defaults) if check else {}


def _without_defaults(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """Drop options left at their default: the stored config is filled in, the form shows what was chosen."""
    defaults = config_options(kind)
    return {key: value for key, value in config.items() if key not in defaults or defaults[key] != value}


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class EvaluatorForm(forms.Form):
    """An evaluator's definition; name and kind are fixed once it exists."""

    name = forms.SlugField(
        max_length=100,
        help_text="the metric name its scores carry",
        widget=forms.TextInput(attrs={"placeholder": "e.g. no_ai_disclaimer", "autocomplete": "off"}),
    )
    kind = forms.ChoiceField(choices=Evaluator.Kind.choices, initial=Evaluator.Kind.REGEX)
    config = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 9, "spellcheck": "false"}))
    sample_rate = forms.FloatField(min_value=0.0, max_value=1.0, initial=1.0)
    is_enabled = forms.BooleanField(required=False, initial=True)
    judge = forms.ModelChoiceField(queryset=None, required=False, empty_label="— none —")
    route = forms.CharField(required=False)
    model = forms.CharField(required=False)
    prompt_version = forms.CharField(required=False)
    environment = forms.CharField(required=False)
    tags = forms.CharField(required=False)
    span_kind = forms.CharField(required=False)

    def __init__(self, *args: Any, project: Project, evaluator: Evaluator | None = None, **kwargs: Any) -> None:
        if evaluator is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_for(evaluator)
        super().__init__(*args, **kwargs)
        self.evaluator = evaluator
        self.fields["judge"].queryset = project.judges.order_by("name")  # type: ignore[attr-defined]
        if evaluator is not None:
            # Fixed on edit: the posted values are ignored, the stored ones win.
            for name in ("name", "kind"):
                self.fields[name].disabled = True
        if not self.is_bound and "config" not in self.initial:
            self.initial["config"] = config_example(self.kind_value)

    @staticmethod
    def initial_for(evaluator: Evaluator) -> dict[str, Any]:
        """Return the form values of a stored evaluator."""
        initial: dict[str, Any] = {
            "name": evaluator.name,
            "kind": evaluator.kind,
            "config": json.dumps(_without_defaults(evaluator.kind, evaluator.config), indent=2),
            "sample_rate": evaluator.sample_rate,
            "is_enabled": evaluator.is_enabled,
            "judge": evaluator.judge_id,
        }
        for key in FILTER_KEYS:
            initial[key] = ", ".join((evaluator.filters or {}).get(key, []))
        return initial

    @property
    def kind_value(self) -> str:
        """The kind currently chosen (stored, posted, or the initial one)."""
        if self.evaluator is not None:
            return self.evaluator.kind
        if self.is_bound and self.data.get("kind") in Evaluator.Kind.values:
            return str(self.data["kind"])
        return str(self.initial.get("kind") or self.fields["kind"].initial)

    def clean_config(self) -> dict[str, Any]:
        raw = (self.cleaned_data.get("config") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
        if not isinstance(value, dict):
            raise ValidationError('must be a JSON object, e.g. {"pattern": "…"}')
        return value

    def to_spec(self) -> EvaluatorSpec:
        """Return the submitted definition (call after is_valid)."""
        data = self.cleaned_data
        return EvaluatorSpec(
            name=data["name"],
            kind=data["kind"],
            config=data["config"],
            filters={key: _split(data[key]) for key in FILTER_KEYS if _split(data[key])},
            sample_rate=data["sample_rate"],
            is_enabled=data["is_enabled"],
            judge=data["judge"],
        )


# The UI's one time format (ISO 8601 UTC). A text field, not datetime-local: browsers show that in the
# viewer's locale (e.g. 01/31/2025, 09:00 AM) and without the zone; ISO with or without the Z parses back.
ISO_INPUT = "%Y-%m-%dT%H:%MZ"


class BackfillForm(forms.Form):
    """The time range of a backfill (UTC), the last 24 hours by default."""

    since = forms.DateTimeField(
        label="Since (UTC)",
        widget=forms.DateTimeInput(attrs={"placeholder": "e.g. 2025-01-31T09:00Z"}, format=ISO_INPUT),
    )
    until = forms.DateTimeField(
        label="Until (UTC)",
        widget=forms.DateTimeInput(attrs={"placeholder": "e.g. 2025-02-01T09:00Z"}, format=ISO_INPUT),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            now = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
            self.initial.setdefault("since", now - timedelta(hours=24))
            self.initial.setdefault("until", now)
