"""Forms of the judge pages."""

from __future__ import annotations

from django import forms


class JudgeCreateForm(forms.Form):
    """Pin a judge: endpoint, exact model, and where its API key comes from."""

    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"placeholder": "e.g. gpt-4o judge"}))
    base_url = forms.URLField(
        max_length=300,
        label="Base URL",
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "e.g. https://api.openai.com/v1"}),
    )
    model = forms.CharField(
        max_length=200, label="Pinned model", widget=forms.TextInput(attrs={"placeholder": "e.g. gpt-4o-2024-08-06"})
    )
    # Only SIGHTLINE_JUDGE_KEY_* variables: judge_key_env_check() in the service enforces it for every caller.
    api_key_env = forms.RegexField(
        regex=r"^SIGHTLINE_JUDGE_KEY_[A-Z0-9_]+$",
        max_length=100,
        required=False,
        label="API key env var",
        error_messages={"invalid": "must name an environment variable starting with SIGHTLINE_JUDGE_KEY_"},
        widget=forms.TextInput(attrs={"placeholder": "e.g. SIGHTLINE_JUDGE_KEY_OPENAI"}),
    )
    # Never rendered back: a failed submit makes the user type it again rather than echoing a secret.
    api_key = forms.CharField(
        max_length=500,
        required=False,
        label="or API key (stored encrypted)",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    timeout_s = forms.FloatField(min_value=1, max_value=600, initial=30, label="Timeout (s)")
    input_price_per_mtok = forms.FloatField(min_value=0, required=False, label="$ / M input tokens")
    output_price_per_mtok = forms.FloatField(min_value=0, required=False, label="$ / M output tokens")


class JudgeEditForm(forms.Form):
    """Edit a judge; a change to what it computes makes a new version (current, or a shadow to compare first)."""

    name = forms.CharField(max_length=100)
    base_url = forms.URLField(max_length=300, label="Base URL", assume_scheme="https")
    model = forms.CharField(max_length=200, label="Pinned model")
    rubric_criteria = forms.CharField(
        max_length=4000, label="Rubric (what a pass means)", widget=forms.Textarea(attrs={"rows": 3})
    )
    scale = forms.ChoiceField(choices=[("binary", "pass / fail"), ("likert5", "1–5 score")], label="Output scale")
    pass_threshold = forms.IntegerField(min_value=1, max_value=5, required=False, label="Pass from (1–5 scale)")
    temperature = forms.FloatField(min_value=0, max_value=2, label="Temperature")
    max_tokens = forms.IntegerField(min_value=1, max_value=4000, label="Max tokens")
    timeout_s = forms.FloatField(min_value=1, max_value=600, label="Timeout (s)")
    regression_margin = forms.FloatField(
        min_value=0.01, max_value=2, label="Regression margin (κ drop)", help_text="alert when κ falls this far"
    )
    shadow = forms.BooleanField(required=False, label="Run as a shadow version (compare, then promote)", initial=False)
