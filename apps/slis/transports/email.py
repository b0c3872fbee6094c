"""Email through Django's email backend."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import send_mail

from apps.slis.transports import Transport, TransportError


class EmailTransport(Transport):
    def send(self, channel: Any, payload: dict[str, Any]) -> int:
        subject = f"[Sightline] {payload.get('state', '')}: {payload.get('sli', {}).get('name', '')}"
        body = f"{payload.get('message', '')}\n\n{payload.get('url', '')}\n"
        try:
            send_mail(subject[:200], body, settings.DEFAULT_FROM_EMAIL, [channel.target])
        except OSError as exc:  # SMTP down: retried
            raise TransportError(f"email: {exc}") from exc
        return 0
