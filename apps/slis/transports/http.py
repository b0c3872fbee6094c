"""POST a body to a user-given URL through the guarded client (no redirects, no private addresses)."""

from __future__ import annotations

import httpx
from django.conf import settings

from apps.core.outbound import OutboundRefused, guarded_http_client
from apps.slis.transports import TransportError


def http_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST and return the status; 2xx only counts as delivered (a redirect is a failure, never followed)."""
    try:
        with guarded_http_client(
            allowed_hosts=settings.ALERT_ALLOWED_HOSTS, timeout=settings.ALERT_DELIVERY_TIMEOUT_SECONDS
        ) as client:
            response = client.post(url, content=body, headers={"Content-Type": "application/json", **headers})
    except OutboundRefused as exc:
        reason = str(exc).replace("JUDGE_ALLOWED_HOSTS", "ALERT_ALLOWED_HOSTS")
        raise TransportError(f"refused: {reason}", permanent=True) from exc
    except httpx.HTTPError as exc:
        raise TransportError(f"{type(exc).__name__}: {exc}") from exc
    if 200 <= response.status_code < 300:
        return response.status_code
    if 300 <= response.status_code < 400:
        raise TransportError(
            f"HTTP {response.status_code}: redirects are not followed", permanent=True, status=response.status_code
        )
    raise TransportError(f"HTTP {response.status_code}: {response.text[:200]}", status=response.status_code)
