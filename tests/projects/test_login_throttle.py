"""Logins are throttled per username and IP address (django-axes)."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.projects.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def attempt(client, password: str, username: str = "alice", ip: str = "127.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_after_the_limit_even_the_right_password_is_refused(client, alice):
    assert settings.AXES_FAILURE_LIMIT >= 3  # sensible: a typo or two never locks anyone out
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert attempt(client, "wrong-password").status_code in {200, 429}
    response = attempt(client, TEST_PASSWORD)
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_lock_is_per_username_and_ip(client, alice, bob):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "wrong-password")
    assert attempt(client, TEST_PASSWORD).status_code == 429
    # Another user from the same address, and the same user from another address, still get in.
    assert attempt(client, TEST_PASSWORD, username="bob").status_code == 302
    client.logout()
    assert attempt(client, TEST_PASSWORD, ip="10.9.8.7").status_code == 302


def test_fewer_failures_than_the_limit_do_not_lock(client, alice):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "wrong-password")
    assert attempt(client, TEST_PASSWORD).status_code == 302


def test_behind_a_proxy_the_proxy_appended_address_counts(rf, settings):
    from apps.projects.access import login_client_ip

    request = rf.post("/login/", HTTP_X_FORWARDED_FOR="6.6.6.6, 8.8.4.4", REMOTE_ADDR="10.0.0.1")
    assert login_client_ip(request) == "10.0.0.1"  # no proxy configured: the header is not trusted
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # BEHIND_TLS_PROXY=true
    assert login_client_ip(request) == "8.8.4.4"  # not the spoofable leftmost hop
