"""Forms of the SLI and alerting pages (the services validate again and name the field)."""

from __future__ import annotations

from django import forms

from apps.slis.engine import AGGREGATIONS, COMPARATORS, DIMENSIONS
from apps.slis.models import Channel


class SliForm(forms.Form):
    name = forms.CharField(max_length=100)
    metric = forms.RegexField(r"^[A-Za-z0-9_.:-]{1,100}$", help_text="a score name, thumbs_down, latency_ms, errors…")
    aggregation = forms.ChoiceField(choices=[(a, a) for a in AGGREGATIONS])
    route = forms.CharField(max_length=200, required=False, label="Filter: route")
    environment = forms.CharField(max_length=200, required=False, label="Filter: environment")
    model = forms.CharField(max_length=200, required=False, label="Filter: model")
    prompt_version = forms.CharField(max_length=200, required=False, label="Filter: prompt version")
    use_corrected = forms.BooleanField(
        required=False,
        label="Bias-corrected (judged rates)",
        help_text="use the judge rate corrected by human labels on the random sample, once there are enough",
    )
    corrected_min_labels = forms.IntegerField(min_value=2, initial=30, required=False, label="Labels needed to correct")

    def filters(self) -> dict[str, str]:
        return {d: self.cleaned_data[d] for d in DIMENSIONS if self.cleaned_data.get(d)}


class RuleForm(forms.Form):
    name = forms.CharField(max_length=100, required=False)
    comparator = forms.ChoiceField(choices=[(c, c) for c in COMPARATORS])
    threshold = forms.FloatField(required=False, help_text="rates as fractions: 0.05 is 5 %")
    window = forms.RegexField(r"^\d{1,6}[smhd]$", initial="5m", help_text="e.g. 5m, 1h")
    min_samples = forms.IntegerField(min_value=1, initial=10)
    for_duration = forms.RegexField(r"^\d{1,6}[smhd]$", initial="0m", label="For", help_text="hold before firing")
    group_by = forms.MultipleChoiceField(
        choices=[(d, d) for d in DIMENSIONS], required=False, widget=forms.CheckboxSelectMultiple
    )
    objective = forms.FloatField(
        required=False,
        label="SLO objective",
        help_text="instead of a threshold: e.g. 0.97; alerts on 1h/5m and 6h/30m burn rates",
    )
    slo_window = forms.RegexField(r"^\d{1,6}[smhd]$", initial="28d", required=False, label="SLO period")
    channels = forms.ModelMultipleChoiceField(
        queryset=Channel.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: object, project: object = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if project is not None:
            self.fields["channels"].queryset = Channel.objects.filter(project=project).order_by("name")

    def clean(self) -> dict:
        data = super().clean()
        if data.get("objective") is None and data.get("threshold") is None and "threshold" not in self.errors:
            self.add_error("threshold", "Give a threshold, or an SLO objective.")
        return data


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=Channel.Kind.choices)
    target = forms.CharField(max_length=500, help_text="URL for webhook and Slack, an address for email")


class SilenceForm(forms.Form):
    hours = forms.IntegerField(min_value=0, max_value=24 * 30)
