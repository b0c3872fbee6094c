"""Sending Celery jobs whose truth is a database row: a broker outage is logged, never raised.

A per-process circuit breaker keeps a broker outage from costing every request a connection
timeout: after one failed send, sends are skipped for `BROKER_BREAKER_SECONDS` and the rows are
left to their sweepers; then one send probes the broker (half-open) and closes the breaker again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

logger = logging.getLogger(__name__)


@dataclass
class Breaker:
    """Open for a while after a broker failure; one probe at a time once that while has passed."""

    open_until: float = 0.0  # time.monotonic(); 0 means closed
    probing: bool = False
    failures: int = 0
    skipped: int = 0  # sends skipped while open: what tests and logs look at
    lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self) -> bool:
        """Whether this send may try the broker (closed, or the one half-open probe)."""
        with self.lock:
            if not self.open_until:
                return True
            if time.monotonic() >= self.open_until and not self.probing:
                self.probing = True
                return True
            self.skipped += 1
            return False

    def record(self, *, ok: bool) -> None:
        with self.lock:
            self.probing = False
            if ok:
                self.open_until, self.failures = 0.0, 0
            else:
                self.failures += 1
                self.open_until = time.monotonic() + settings.BROKER_BREAKER_SECONDS

    @property
    def is_open(self) -> bool:
        return bool(self.open_until)

    def reset(self) -> None:
        with self.lock:
            self.open_until, self.probing, self.failures, self.skipped = 0.0, False, 0, 0


BREAKER = Breaker()


def task_enqueue(task: Any, *args: Any, **options: Any) -> bool:
    """Send one job without Celery's publish retries; on broker failure (or an open breaker) return False.

    Every caller's row stays pending, so its beat sweeper sends the job again later.
    """
    if not BREAKER.allow():
        logger.debug("%s%s not enqueued: broker breaker open; its sweeper will send it", task.name, args)
        return False
    try:
        task.apply_async(args=list(args), retry=False, **options)
    except SoftTimeLimitExceeded:
        raise  # the calling task's time is up: never mistake that for a broker outage
    except Exception as exc:  # noqa: BLE001 - any broker failure is left to the sweeper
        BREAKER.record(ok=False)
        logger.warning("%s%s not enqueued (%s); its sweeper will send it again", task.name, args, exc)
        return False
    BREAKER.record(ok=True)
    return True
