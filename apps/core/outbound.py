"""The one guarded HTTP client for user-given URLs (judges today, webhooks later).

Rules (design.md): http(s) only, no redirects, and no private, loopback, link-local, metadata or
otherwise non-global address, checked on every address a host name resolves to, unless the host is
on an allow-list an administrator set. The check runs when a URL is saved (`outbound_url_check`,
for a 400 that names the field) and again on every connection: the transport resolves the name
itself, checks each address and connects to the checked address, so a DNS answer that changes
between the check and the call (DNS rebinding) cannot slip a private address through.

Pure Python (no Django): callers pass the allow-list from their own setting.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

__all__ = [
    "OutboundRefused",
    "guarded_http_client",
    "outbound_address_check",
    "outbound_resolve",
    "outbound_url_check",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
# NAT64 (RFC 6052) embeds an IPv4 address that the gateway will reach: judge that address instead.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Cloud metadata endpoints reachable under names, refused even before resolution.
_METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "instance-data"})


class OutboundRefused(Exception):
    """A user-given URL may not be called: the message says why (safe to show to the user)."""


def _normalize_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _is_allowed_host(host: str, allowed_hosts: Collection[str]) -> bool:
    """Return whether an administrator allowed this host name (or literal address) by exact name."""
    wanted = _normalize_host(host)
    return any(_normalize_host(item) == wanted for item in allowed_hosts if item.strip())


def outbound_address_check(address: IPAddress) -> None:
    """Raise OutboundRefused unless the address is a public (globally routable) one."""
    candidate: IPAddress = address
    if isinstance(candidate, ipaddress.IPv6Address):
        if candidate.ipv4_mapped is not None:  # ::ffff:127.0.0.1 reaches 127.0.0.1
            candidate = candidate.ipv4_mapped
        elif candidate in _NAT64:
            candidate = ipaddress.IPv4Address(int(candidate) & 0xFFFFFFFF)
    if candidate.is_loopback:
        kind = "a loopback"
    elif candidate.is_link_local:  # includes 169.254.169.254, the cloud metadata address
        kind = "a link-local (metadata)"
    elif candidate.is_private:
        kind = "a private"
    elif not candidate.is_global or candidate.is_multicast or candidate.is_unspecified or candidate.is_reserved:
        kind = "a non-public"
    else:
        return
    raise OutboundRefused(f"{address} is {kind} address; an administrator can allow the host in JUDGE_ALLOWED_HOSTS")


def outbound_resolve(host: str, port: int, *, allowed_hosts: Collection[str] = ()) -> list[str]:
    """Return the host's addresses after checking every one of them (allowed hosts skip the checks)."""
    name = _normalize_host(host)
    if not name:
        raise OutboundRefused("the URL has no host")
    if _is_allowed_host(name, allowed_hosts):
        return [name]
    if name in _METADATA_NAMES or name == "localhost" or name.endswith(".localhost"):
        raise OutboundRefused(
            f"{name} is a local or metadata host; an administrator can allow it in JUDGE_ALLOWED_HOSTS"
        )
    try:
        literal = ipaddress.ip_address(name)
    except ValueError:
        literal = None
    if literal is not None:
        outbound_address_check(literal)
        return [str(literal)]
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundRefused(f"cannot resolve {name}: {exc}") from exc
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])  # drop an IPv6 zone id
        outbound_address_check(address)  # every address: one bad answer refuses the host
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise OutboundRefused(f"{name} resolves to no address")
    return addresses


def outbound_url_check(url: str, *, allowed_hosts: Collection[str] = ()) -> None:
    """Raise OutboundRefused unless the URL is http(s) and its host is public or allowed."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"not a valid URL: {exc}") from exc
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise OutboundRefused(f"only http and https URLs are allowed, not {parts.scheme or 'no scheme'!r}")
    if parts.username or parts.password:
        raise OutboundRefused("credentials in the URL are not allowed")
    host = parts.hostname or ""
    outbound_resolve(host, port or (443 if parts.scheme.lower() == "https" else 80), allowed_hosts=allowed_hosts)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolve, check and connect to a checked address (the TLS name stays the URL's host)."""

    def __init__(self, allowed_hosts: Collection[str]) -> None:
        self._allowed_hosts = tuple(allowed_hosts)
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = outbound_resolve(host, port, allowed_hosts=self._allowed_hosts)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:  # try the next checked address
                last_error = exc
        assert last_error is not None
        raise last_error

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        raise OutboundRefused("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _GuardedTransport(httpx.HTTPTransport):
    """An httpx transport whose every connection goes through the guarded backend."""

    def __init__(self, *, allowed_hosts: Collection[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pool._network_backend = _GuardedBackend(allowed_hosts)


class _NoRedirectClient(httpx.Client):
    """An httpx client that never follows a redirect, whatever a caller (e.g. the openai SDK) asks."""

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        kwargs["follow_redirects"] = False
        if request.url.scheme not in ALLOWED_SCHEMES:  # addresses are checked when connecting
            raise OutboundRefused(f"only http and https URLs are allowed, not {request.url.scheme!r}")
        return super().send(request, **kwargs)


def guarded_http_client(*, allowed_hosts: Collection[str] = (), timeout: float = 30.0) -> httpx.Client:
    """Return an httpx client for user-given URLs: checked on every request and connection, no redirects, no proxies."""
    return _NoRedirectClient(
        transport=_GuardedTransport(allowed_hosts=allowed_hosts),
        follow_redirects=False,
        trust_env=False,  # a proxy from the environment would hide the real destination from the check
        timeout=timeout,
    )
