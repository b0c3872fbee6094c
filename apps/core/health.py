"""Reachability checks of the platform's dependencies."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection


def database_check() -> str:
    """Return '' when PostgreSQL answers a query, else the problem."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return ""


def broker_check() -> str:
    """Return '' when Redis (the Celery broker) answers PING, else the problem."""
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return ""


def dependencies_check() -> dict[str, str]:
    """Return each dependency's problem ('' when it is fine)."""
    return {"database": database_check(), "redis": broker_check()}
