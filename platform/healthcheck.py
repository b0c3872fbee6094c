#!/usr/bin/env python3
"""Exit 0 when the local web process answers GET /healthz with 200 (container healthcheck).

Sends a Host header taken from ALLOWED_HOSTS and X-Forwarded-Proto: https, so the check passes
behind Django's host validation and a TLS-terminating proxy setup. Stdlib only.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def health_host(allowed_hosts: str) -> str:
    """Return a Host header value that Django's ALLOWED_HOSTS accepts."""
    for item in allowed_hosts.split(","):
        host = item.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Treat a redirect (e.g. to https) as an answer instead of following it off the box."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        """Refuse to follow redirects."""
        return None


def check(url: str, host: str, timeout: float = 3.0) -> bool:
    """Return True when `url` answers 200."""
    request = urllib.request.Request(url, headers={"Host": host, "X-Forwarded-Proto": "https"})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def main() -> int:
    """Check http://127.0.0.1:$PORT/healthz and return the exit code."""
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz"
    host = health_host(os.environ.get("ALLOWED_HOSTS", "localhost"))
    ok = check(url, host)
    if not ok:
        print(f"unhealthy: {url} (Host: {host})", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
