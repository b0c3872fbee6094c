"""Shared fixtures: personas, API clients, a real Celery worker, and a real browser."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from urllib.parse import urlparse, urlunparse

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from apps.projects.models import Membership
from apps.projects.services import api_key_create, project_create
from tests.projects.factories import UserFactory

# Playwright's sync API runs an event loop in this thread; the ORM calls in browser tests are still sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Parallel checkouts (one per developer helper) each take their own Redis database through this variable.
TEST_REDIS_DB = int(os.environ.get("SIGHTLINE_TEST_REDIS_DB", "15"))


def _redis_url_with_db(url: str, db: int) -> str:
    """Return the Redis URL pointed at another logical database (unix sockets use ?db=)."""
    parsed = urlparse(url)
    if parsed.scheme in {"redis+socket", "unix"}:
        query = "&".join(p for p in parsed.query.split("&") if p and not p.startswith("db=")) + f"&db={db}"
        return urlunparse(parsed._replace(query=query.lstrip("&")))
    return urlunparse(parsed._replace(path=f"/{db}"))


def pytest_configure(config: pytest.Config) -> None:
    """Point Celery and the cache at a Redis database of their own, so a running `make run` never steals test jobs."""
    from config.celery import app as celery_app

    test_url = _redis_url_with_db(settings.REDIS_URL, TEST_REDIS_DB)
    settings.REDIS_URL = test_url
    settings.CELERY_BROKER_URL = test_url
    settings.CACHES["default"]["LOCATION"] = test_url
    celery_app.conf.update(CELERY_BROKER_URL=test_url)  # the namespaced key is the one the app reads
    # The live server serves static files from the finders, which know no collectstatic hashes:
    # link them by plain names even when a `make run` left a manifest in STATIC_ROOT.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(scope="session", autouse=True)
def _clean_test_broker() -> None:
    """Start every session with an empty test broker database (leftover jobs would run against nothing)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    client.close()


@pytest.fixture
def alice(db):
    """A project admin."""
    return UserFactory(username="alice")


@pytest.fixture
def bob(db):
    """A viewer in alice's project."""
    return UserFactory(username="bob")


@pytest.fixture
def carol(db):
    """An outsider: a user with no role in alice's project."""
    return UserFactory(username="carol")


@pytest.fixture
def project(alice, bob):
    """Alice's project, with bob as a viewer."""
    proj = project_create(name="Acme Support Bot", owner=alice)
    Membership.objects.create(project=proj, user=bob, role=Membership.Role.VIEWER)
    return proj


@pytest.fixture
def api_key(project) -> str:
    """A write-scoped API key's plaintext for the project."""
    return api_key_create(project=project, name="test").plaintext


@pytest.fixture
def api_client(api_key) -> APIClient:
    """A DRF client authenticated with the project's key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


@pytest.fixture
def admin_api_key(project) -> str:
    """An admin-scoped API key's plaintext for the project (configuration endpoints)."""
    return api_key_create(project=project, name="admin", scope="admin").plaintext


@pytest.fixture
def admin_api_client(admin_api_key) -> APIClient:
    """A DRF client authenticated with the project's admin key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {admin_api_key}")
    return client


@pytest.fixture
def celery_worker(transactional_db) -> Iterator[object]:
    """Run a real Celery worker (in a thread) consuming every queue from the real Redis."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app as celery_app

    queues = ["ingest", "evaluations", "judge", "alerts", "default"]
    with start_worker(
        celery_app, pool="solo", concurrency=1, perform_ping_check=False, queues=queues, shutdown_timeout=30
    ) as worker:
        yield worker


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's chromium, headless, driven by Playwright."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server) -> Iterator[object]:
    """A fresh browser page; fails the test on any JavaScript error."""
    context = browser.new_context(base_url=live_server.url)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(message: object) -> None:
        # A blocked inline script or style shows only as a console error: fail on those too.
        text = message.text  # type: ignore[attr-defined]
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            errors.append(f"CSP violation: {text}")

    pg.on("console", on_console)
    yield pg
    context.close()
    assert not errors, f"JavaScript errors or CSP violations on the page: {errors}"


@pytest.fixture
def login(page, live_server):
    """Log a user in through the real login form."""

    def do_login(user, password: str = "pw-for-tests-123") -> None:
        page.goto("/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")

    return do_login


@pytest.fixture
def judge_hosts_allowed(settings) -> list[str]:
    """Allow judges on 127.0.0.1 (refused by default as a loopback address), as an admin would for Ollama."""
    settings.JUDGE_ALLOWED_HOSTS = ["127.0.0.1"]
    return settings.JUDGE_ALLOWED_HOSTS


@pytest.fixture
def fake_openai(judge_hosts_allowed) -> Iterator[object]:
    """A local OpenAI-compatible server (127.0.0.1) for the real `openai` client; judges may reach it."""
    from tests.support.openai_server import FakeOpenAI

    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def _no_stray_test_db_connections(django_db_setup, django_db_blocker) -> Iterator[None]:
    """End connections that worker and live-server threads left open, so the test database can be dropped."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
