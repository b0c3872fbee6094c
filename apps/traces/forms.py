"""Forms of the trace pages: a project's price override."""

from __future__ import annotations

from django import forms


class ModelPriceForm(forms.Form):
    model_pattern = forms.CharField(max_length=200, label="Model or pattern")
    provider = forms.CharField(max_length=100, required=False, label="Provider")
    input_per_million = forms.FloatField(min_value=0, label="Input $/M tokens")
    output_per_million = forms.FloatField(min_value=0, label="Output $/M tokens")
    cached_input_per_million = forms.FloatField(min_value=0, required=False, label="Cached input $/M tokens")
    effective_from = forms.DateField(label="Effective from (UTC date)", input_formats=["%Y-%m-%d"])
