"""Shared by the demo's live and browser tests: a simulator against the live server, and waiting for the worker."""

from __future__ import annotations

import time

import pytest

from apps.demo.scenario import Script
from apps.demo.services import simulator_keys_issue
from apps.demo.simulator import Control, Simulator
from apps.traces.models import IngestBatch, Trace
from config.celery import app as celery_app

SETTLE_SECONDS = 90


def simulator_for(live_server, project, *, script: Script, rate: float, speed: float) -> Simulator:
    """Return a simulator sending to the live server with fresh keys of the project."""
    keys = simulator_keys_issue(project=project)
    return Simulator(
        bank=script.bank,
        base_url=live_server.url,
        api_key=keys.write,
        feedback_key=keys.feedback,
        rate=rate,
        speed=speed,
        script=script,
        control=Control(poll_seconds=0.5),
    )


def settled(project, requests: int) -> None:
    """Wait until `requests` traces are stored and every ingest batch has been processed by the worker."""
    deadline = time.monotonic() + SETTLE_SECONDS
    stored = 0
    while time.monotonic() < deadline:
        stored = Trace.objects.filter(project=project).count()
        open_batches = IngestBatch.objects.filter(
            project=project, state__in=[IngestBatch.State.PENDING, IngestBatch.State.RUNNING]
        ).exists()
        if stored >= requests and not open_batches:
            return
        time.sleep(0.5)
    pytest.fail(f"{stored} of {requests} traces stored after {SETTLE_SECONDS} s")


def beats_until(done, *, timeout: float = 60.0, extra: int = 2) -> None:
    """Send what beat sends (the rollup drain, rule evaluation) every 2 s until done(), then `extra` more times."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        celery_app.send_task("scores.rollups_drain")
        celery_app.send_task("slis.rules_evaluate")
        time.sleep(2)
    for _ in range(extra):
        celery_app.send_task("scores.rollups_drain")
        celery_app.send_task("slis.rules_evaluate")
        time.sleep(2)
