"""The guarded outbound client refuses non-public destinations before any traffic is sent."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from apps.core.outbound import (
    OutboundRefused,
    guarded_http_client,
    outbound_address_check,
    outbound_resolve,
    outbound_url_check,
)


class _Recorder(BaseHTTPRequestHandler):
    """A loopback server that counts requests, answering /redirect with a 302 to /target."""

    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).hits.append(self.path)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/target")
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[tuple[str, list[str]]]:
    _Recorder.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.hits
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.9.9.9",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00:ec2::254",  # AWS IPv6 metadata
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "224.0.0.1",
    ],
)
def test_non_public_addresses_are_refused(address):
    with pytest.raises(OutboundRefused):
        outbound_address_check(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    outbound_address_check(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://10.0.0.5/v1",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:11434/v1",
        "http://[::ffff:7f00:1]/v1",
        "http://localhost:11434/v1",
        "http://metadata.google.internal/computeMetadata/v1/",
        "ftp://example.com/v1",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://user:pw@8.8.8.8/v1",
    ],
)
def test_urls_to_private_hosts_or_other_schemes_are_refused(url):
    with pytest.raises(OutboundRefused):
        outbound_url_check(url)


def test_a_hostname_is_judged_by_every_address_it_resolves_to():
    # "localhost" resolves through /etc/hosts (no DNS traffic); the name shortcut is bypassed on purpose
    # by resolving a loopback alias of the machine that is not called localhost.
    name = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(name, 80)}
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        pytest.skip(f"{name} does not resolve to loopback here")
    with pytest.raises(OutboundRefused, match="loopback"):
        outbound_resolve(name, 80)


def test_an_allowed_host_skips_the_checks():
    assert outbound_resolve("127.0.0.1", 80, allowed_hosts=["127.0.0.1"]) == ["127.0.0.1"]
    outbound_url_check("http://[::1]:8000/v1", allowed_hosts=["[::1]"])
    outbound_url_check("http://LOCALHOST:11434/v1", allowed_hosts=["localhost"])
    with pytest.raises(OutboundRefused):  # allowing one host allows no other
        outbound_url_check("http://10.0.0.1/v1", allowed_hosts=["127.0.0.1"])


def test_the_client_refuses_at_connect_time_and_sends_nothing(loopback_server):
    base, hits = loopback_server
    with guarded_http_client() as client, pytest.raises(OutboundRefused):
        client.get(f"{base}/target")
    assert hits == []  # refused before a connection was made


def test_the_client_reaches_an_allowed_host_and_never_follows_redirects(loopback_server):
    base, hits = loopback_server
    with guarded_http_client(allowed_hosts=["127.0.0.1"]) as client:
        assert client.get(f"{base}/target").status_code == 200
        response = client.get(f"{base}/redirect", follow_redirects=True)  # the caller's wish is overruled
    assert response.status_code == 302
    assert hits == ["/target", "/redirect"]


def test_the_client_refuses_other_schemes():
    with guarded_http_client() as client, pytest.raises((OutboundRefused, httpx.UnsupportedProtocol)):
        client.get("ftp://8.8.8.8/")
