"""Fixtures of the traces tests: the real web server for what Django's test server cannot show."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.gunicorn_server import gunicorn_server


@pytest.fixture(scope="session")
def gunicorn_url(django_db_setup, django_db_blocker) -> Iterator[str]:
    """Base URL of gunicorn serving the app from the test database (tests using it need transactional_db)."""
    with gunicorn_server() as url:
        yield url
