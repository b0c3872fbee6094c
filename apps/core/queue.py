"""Sending Celery jobs whose truth is a database row: a broker outage is logged, never raised."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def task_enqueue(task: Any, *args: Any) -> bool:
    """Send one job without Celery's publish retries; on broker failure log and return False.

    Every caller's row stays pending, so its beat sweeper sends the job again later.
    """
    try:
        task.apply_async(args=list(args), retry=False)
    except Exception as exc:  # noqa: BLE001 - any broker failure is left to the sweeper
        logger.warning("%s%s not enqueued (%s); its sweeper will send it again", task.name, args, exc)
        return False
    return True
