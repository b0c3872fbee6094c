"""The Celery app beat runs (`celery -A apps.core.beat beat`): the schedule and the broker, without Django's apps.

Beat only sends task names on a timer, so it needs the CELERY_* settings, the routes and the schedule, never
the models, services or task modules. Without Celery's Django fix-up (which runs django.setup() and imports
every app's tasks) the process holds ~45 MB instead of ~130 MB: one process of the `make run` tree.
config/__init__.py skips building the full app (config.celery) when this module is the one being imported.
"""

from __future__ import annotations

import os

from celery import Celery

from config.schedule import BEAT_SCHEDULE, TASK_ROUTES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("sightline", fixups=[])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_routes = TASK_ROUTES
app.conf.beat_schedule = BEAT_SCHEDULE
