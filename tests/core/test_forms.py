"""The one mapping of a service's ValidationError onto a form."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from apps.core.forms import form_add_service_error


class _Form(forms.Form):
    name = forms.CharField()
    config = forms.CharField()


def _bound() -> _Form:
    form = _Form({"name": "n", "config": "{}"})
    assert form.is_valid()
    return form


def test_a_named_field_error_shows_on_that_field():
    form = _bound()
    form_add_service_error(form, ValidationError({"name": "taken"}))
    assert form.errors == {"name": ["taken"]}


def test_a_dotted_key_shows_under_its_field_with_the_option_named():
    form = _bound()
    form_add_service_error(form, ValidationError({"config.pattern": "unbalanced parenthesis"}))
    assert form.errors == {"config": ["pattern: unbalanced parenthesis"]}


def test_a_key_the_form_lacks_shows_above_the_form_with_the_key():
    form = _bound()
    form_add_service_error(form, ValidationError({"membership": "keeps one admin"}))
    assert form.non_field_errors() == ["membership: keeps one admin"]


def test_a_message_without_a_field_shows_above_the_form():
    form = _bound()
    form_add_service_error(form, ValidationError("the judge is unreachable"))
    assert form.non_field_errors() == ["the judge is unreachable"]
