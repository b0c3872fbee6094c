"""Post-ingest batch jobs against real failures: a worker SIGKILLed mid-batch, and a broker that is down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from apps.core.jobs import NOT_SENT
from apps.core.queue import BREAKER
from apps.scores.models import Score
from apps.traces.models import IngestBatch
from tests.support.broker import broker_unreachable
from tests.support.otlp import genai_request, protobuf_body, record_spans
from tests.traces.factories import simple_trace

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 60  # how long a test waits for the system to reach a state before failing


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Poll until condition() holds; fail naming `what` if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


def libpq_url() -> str:
    """The test database (pytest-django's copy) as a URL a subprocess can use."""
    db = connection.settings_dict
    return (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


def pool_children(pid: int) -> list[int]:
    """The pids of a process's direct children (the prefork pool processes of a worker)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return children


@pytest.fixture
def prefork_worker(transactional_db) -> Iterator[Callable[[dict[str, str]], subprocess.Popen]]:
    """Start `celery worker` processes (prefork, one pool process) on the test database and broker."""
    started: list[subprocess.Popen] = []

    def start(extra_env: dict[str, str]) -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": libpq_url(),
            "REDIS_URL": settings.CELERY_BROKER_URL,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **extra_env,
        }
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork", "--concurrency=1"]
        command += ["-Q", "ingest", "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "warning"]
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_worker_was_sigkilled_is_taken_over_by_its_redelivered_job(project, prefork_worker):
    trace = simple_trace(project, output_text="a fine answer")  # its batch job is queued on commit
    batch = IngestBatch.objects.get(project=project)
    # Hold the scores table so the worker blocks mid-batch, once claimed (storing a score needs ROW EXCLUSIVE).
    # (Scores no longer key-share-lock their trace row: traces are partitioned, without a foreign key.)
    holder = psycopg.connect(libpq_url())
    holder.execute("LOCK TABLE scores_score IN SHARE MODE")
    try:
        worker = prefork_worker({"INGEST_BATCH_TIME_LIMIT": "20"})
        wait_for(lambda: IngestBatch.objects.get(id=batch.id).state == "running", "the worker to claim the batch")
        (child,) = pool_children(worker.pid)
        os.kill(child, signal.SIGKILL)  # the pool process dies mid-task, holding the claim
        wait_for(lambda: child not in pool_children(worker.pid), "the worker to replace its pool process")
    finally:
        holder.rollback()
        holder.close()
    # Without the beat sweeper, only the redelivered job (acks_late + reject_on_worker_lost) can finish it.
    wait_for(lambda: IngestBatch.objects.get(id=batch.id).state == "done", "the redelivered job to finish the batch")
    batch.refresh_from_db()
    assert batch.attempts == 2  # the killed claim, then the takeover
    assert Score.objects.filter(trace=trace, name="not_empty", passed=True).exists()


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_skips_enqueueing_after_one_failure_and_the_sweep_catches_up(client, api_key, project):
    from celery.contrib.testing.worker import start_worker

    from apps.traces.tasks import ingest_batch_sweep_task
    from config.celery import app as celery_app

    BREAKER.reset()
    body = protobuf_body(record_spans(genai_request))
    with broker_unreachable():
        for _ in range(4):
            response = client.post(
                "/v1/traces", data=body, content_type="application/x-protobuf", HTTP_AUTHORIZATION=f"Bearer {api_key}"
            )
            assert response.status_code == 200  # stored, acknowledged
        # Only the first request tried the broker; the other three skipped the send (no connect timeout).
        assert (BREAKER.failures, BREAKER.skipped, BREAKER.is_open) == (1, 3, True)
    batches = IngestBatch.objects.filter(project=project)
    assert [(b.state, b.enqueued_at) for b in batches] == [("pending", NOT_SENT)] * 4  # known unsent
    # Redis is back: one sweep (as beat sends it every 15 s) and a real worker finish every batch.
    with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=["ingest"], shutdown_timeout=30):
        ingest_batch_sweep_task.delay()
        wait_for(lambda: not batches.exclude(state="done").exists(), "the sweep to catch evaluation up")
    assert Score.objects.filter(project=project, name="not_empty").exists()
