"""The Celery app of the web and worker processes (routes and beat schedule: config/schedule.py)."""

from __future__ import annotations

import gc
import os

from celery import Celery
from celery.signals import worker_process_init

from config.schedule import BEAT_SCHEDULE, TASK_ROUTES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("sightline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# A young collection every 50,000 net container allocations, not 700: the checks free nearly all they allocate by
# reference counting, so ~125 young walks per 3,300 traces found next to nothing (measured in `make bench`).
WORKER_GC_THRESHOLDS = (50_000, 20, 10)


@worker_process_init.connect
def worker_heap_freeze(**_: object) -> None:
    """Freeze the heap a pool process starts with (Django, apps, tables) out of the cyclic collector's walks.

    The checks allocate many short-lived objects, so full collections run often; without this each walks every
    module and model loaded at start-up: a third of the checks' CPU in `make bench` (1,002 → 1,611 traces per CPU
    second with it). Objects created later are collected as before, only less often (WORKER_GC_THRESHOLDS).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*WORKER_GC_THRESHOLDS)


app.conf.task_routes = TASK_ROUTES
app.conf.beat_schedule = BEAT_SCHEDULE
