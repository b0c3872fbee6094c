"""Point the Celery app at another broker URL during a test (a real unreachable port, not a mock)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def use_broker(url: str) -> None:
    """Switch the broker URL; kombu keys its pools by URL, so the real pool stays intact for the way back."""
    from config.celery import app as celery_app

    # The app reads Django's namespaced key (setting conf.broker_url alone changes nothing), and
    # rebuilds both handles lazily on next use, from the new URL.
    celery_app.conf.update(CELERY_BROKER_URL=url)
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def broker_unreachable() -> Iterator[None]:
    """Make enqueueing fail for real inside the block, then restore the real broker."""
    from config.celery import app as celery_app

    real = celery_app.conf.broker_url
    use_broker(UNREACHABLE_BROKER)
    assert celery_app.connection_for_write().as_uri() == UNREACHABLE_BROKER  # the switch took
    try:
        yield
    finally:
        use_broker(real)
        from apps.core.queue import BREAKER

        BREAKER.reset()  # the broker is back: later tests send at once instead of waiting out the breaker
