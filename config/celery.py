"""The Celery app and the whole beat schedule."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("sightline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Queues: ingest (post-ingest batch work), evaluations, judge (LLM-bound), alerts, default.
app.conf.task_routes = {
    "evaluators.judge_request_run": {"queue": "judge"},  # exact names win over the globs below
    "traces.*": {"queue": "ingest"},
    "evaluators.*": {"queue": "evaluations"},
    "judges.*": {"queue": "judge"},
    "slis.*": {"queue": "alerts"},
}

app.conf.beat_schedule = {
    # Re-enqueue ingest batches whose post-ingest job never ran (broker down at ingest time).
    "ingest-batch-sweep": {
        "task": "traces.ingest_batch_sweep",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    # Evaluations from /v1/logs that name only a response id: resolve them, or reject them after the grace period.
    "pending-evaluations-sweep": {
        "task": "traces.pending_evaluations_sweep",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    # Restart backfills whose chain of chunk tasks was lost.
    "backfills-sweep": {
        "task": "evaluators.backfills_sweep",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 240},
    },
    # Re-enqueue judge requests that never reached a worker, and free ones stuck running.
    "judge-requests-sweep": {
        "task": "evaluators.judge_requests_sweep",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
}
