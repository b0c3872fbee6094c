"""JSON webhook signed with X-Sightline-Signature: HMAC-SHA256 of the body with the channel's secret."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from apps.slis.transports import Transport
from apps.slis.transports.http import http_post


def webhook_signature(secret: str, body: bytes) -> str:
    """Return the signature header value: `sha256=<hex HMAC of the body>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookTransport(Transport):
    def send(self, channel: Any, payload: dict[str, Any]) -> int:
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        return http_post(channel.target, body, {"X-Sightline-Signature": webhook_signature(channel.secret, body)})
