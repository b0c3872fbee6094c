"""Form helpers shared by the UI views."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError


def form_add_service_error(form: forms.BaseForm, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form field it names, else above the form.

    A dotted key names an option of a field (`config.pattern` shows under `config` as "pattern: …");
    a key the form lacks shows above the form prefixed with the key, so no message is lost.
    """
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, messages in exc.message_dict.items():
        field, _, option = key.partition(".")
        for message in messages:
            if field in form.fields:
                form.add_error(field, f"{option}: {message}" if option else message)
            else:
                form.add_error(None, f"{key}: {message}" if key and key != "__all__" else message)
