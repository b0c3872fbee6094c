"""Forms of the review pages: the label form, routing rules and the queue's settings."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.review.models import Label, RoutingRule
from apps.review.services import LabelInput, RuleSpec


class LabelForm(forms.Form):
    verdict = forms.ChoiceField(choices=Label.Verdict.choices, widget=forms.RadioSelect)
    categories = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    corrected_answer = forms.CharField(required=False, max_length=20_000, widget=forms.Textarea)
    notes = forms.CharField(required=False, max_length=5_000, widget=forms.Textarea)

    def __init__(self, *args: Any, categories: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["categories"].choices = [(c, c) for c in categories]

    def to_input(self) -> LabelInput:
        data = self.cleaned_data
        return LabelInput(data["verdict"], data["categories"], data["corrected_answer"], data["notes"])


class RuleForm(forms.Form):
    kind = forms.ChoiceField(choices=RoutingRule.Kind.choices)
    score_name = forms.CharField(required=False, max_length=100)
    threshold = forms.FloatField(required=False)
    sample_percent = forms.FloatField(required=False, min_value=0.0, max_value=100.0)
    priority = forms.IntegerField(initial=50, min_value=-1000, max_value=1000)
    reviews_required = forms.IntegerField(initial=1, min_value=1, max_value=5)
    is_enabled = forms.BooleanField(required=False, initial=True)

    def to_spec(self) -> RuleSpec:
        return RuleSpec(**self.cleaned_data)


class QueueSettingsForm(forms.Form):
    daily_cap = forms.IntegerField(min_value=0, max_value=100_000)
    categories = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 6}), help_text="one failure category per line"
    )

    def category_list(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["categories"].splitlines() if line.strip()]
