"""The beat drain on a real Celery worker: ingest → batch job → dirty minute → drain task → rollups."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.scores.models import Rollup, RollupDirty
from apps.scores.rollups import HOUR, MINUTE
from config.celery import app as celery_app
from tests.traces.factories import simple_trace


def wait_for(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_the_beat_schedule_drains_often_enough_to_stay_within_a_minute():
    entry = celery_app.conf.beat_schedule["rollups-drain"]
    assert entry["task"] == "scores.rollups_drain" and entry["task"] in celery_app.tasks
    assert 10 <= entry["schedule"].total_seconds() <= 20
    assert celery_app.conf.beat_schedule["rollups-prune"]["task"] in celery_app.tasks


@pytest.mark.django_db(transaction=True)
def test_the_drain_task_on_a_real_worker_rolls_up_ingested_traffic(project, celery_worker):
    now = timezone.now().replace(second=10, microsecond=0)
    for i in range(3):
        simple_trace(project, at=now + timedelta(seconds=i), route="/a", duration_ms=100 * (i + 1))
    # The ingest batch jobs run on the worker; each marks its trace's minute dirty.
    assert wait_for(lambda: RollupDirty.objects.filter(project_id=project.id).count() >= 3)
    celery_app.send_task("scores.rollups_drain")  # what beat sends every 15 s
    assert wait_for(lambda: Rollup.objects.filter(project=project, metric="traces", resolution=HOUR, dims=0).exists())
    assert wait_for(lambda: not RollupDirty.objects.exists())
    minute = Rollup.objects.get(project=project, metric="traces", resolution=MINUTE)
    assert (minute.bucket, minute.count) == (now.replace(second=0), 3)
    latency = Rollup.objects.get(project=project, metric="latency_ms", resolution=HOUR, dims=2)  # by route
    assert (latency.route, latency.count, latency.value_sum) == ("/a", 3, 600.0)
    # The default evaluators scored the traces on the worker: their pass rates are rolled up as well.
    assert (
        Rollup.objects.filter(project=project, resolution=MINUTE)
        .exclude(metric__in=["traces", "errors", "latency_ms", "tokens", "cost"])
        .exists()
    )
