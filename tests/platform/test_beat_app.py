"""Beat's Celery app: the same routes and schedule as the workers' app, without Django's apps loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from config.celery import app as full_app

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from apps.core.beat import app
from django.apps import apps
app.loader.import_default_modules()  # what `celery beat` does at start-up
print(json.dumps({
    "apps_ready": apps.ready,
    "full_app_built": "config.celery" in sys.modules,
    "task_modules": sorted(m for m in sys.modules if m.startswith("apps.") and m.endswith(".tasks")),
    "routes": app.conf.task_routes,
    "schedule": sorted((k, v["task"]) for k, v in app.conf.beat_schedule.items()),
    "broker": app.conf.broker_url,
}))
"""


def test_beat_app_sends_the_same_schedule_and_routes_without_loading_django_apps() -> None:
    broker = "redis://127.0.0.1:6379/13"  # never connected to: the settings are read, nothing is sent
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "REDIS_URL": broker}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["apps_ready"] is False and probe["full_app_built"] is False and probe["task_modules"] == []
    assert probe["routes"] == full_app.conf.task_routes
    assert probe["schedule"] == sorted([k, v["task"]] for k, v in full_app.conf.beat_schedule.items())
    assert probe["broker"] == broker  # CELERY_* settings come from Django's settings module all the same
