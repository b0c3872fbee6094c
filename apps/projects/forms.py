"""Forms of the project settings pages."""

from __future__ import annotations

from django import forms

from apps.projects.models import ApiKey, Membership


class ProjectCreateForm(forms.Form):
    name = forms.CharField(max_length=200, label="Project name")


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100, label="Key name", initial="ingest")
    scope = forms.ChoiceField(choices=ApiKey.Scope.choices, initial=ApiKey.Scope.WRITE)


class MembershipForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.VIEWER)


class UserCreateForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.VIEWER)


class InvitationCreateForm(forms.Form):
    email = forms.EmailField(required=False, help_text="a note of who it is for; the link is not mailed")
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.VIEWER)


class MembershipRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class InvitationAcceptForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)


class RetentionForm(forms.Form):
    traces_days = forms.IntegerField(min_value=1, max_value=3650, label="Traces and spans (days)")
    scores_days = forms.IntegerField(min_value=1, max_value=3650, label="Scores (days)")
    rollups_months = forms.IntegerField(min_value=1, max_value=120, label="Rollups (months)")
