"""Notification transports, one module per channel kind (healthchecks' shape): `send` returns the HTTP status
(0 for email) or raises TransportError, permanent when retrying cannot help (a refused address)."""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

TRANSPORTS = {
    "webhook": "apps.slis.transports.webhook.WebhookTransport",
    "slack": "apps.slis.transports.slack.SlackTransport",
    "email": "apps.slis.transports.email.EmailTransport",
}


class TransportError(Exception):
    """A failed delivery; `permanent` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status


class Transport:
    """Sends one notification payload to one channel."""

    def send(self, channel: Any, payload: dict[str, Any]) -> int:
        raise NotImplementedError


def transport_for(channel: Any) -> Transport:
    """Return the transport of a channel's kind."""
    return import_string(TRANSPORTS[channel.kind])()
