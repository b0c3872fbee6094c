"""The shared job machinery: claims, bounded attempts, soft time limits, and the broker breaker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from apps.core.jobs import Outcome, job_claim
from apps.core.queue import BREAKER, task_enqueue
from apps.judges.models import JudgeRequest
from apps.traces.models import IngestBatch
from apps.traces.services import INGEST_BATCH_JOB, ingest_batch_process, ingest_batch_sweep
from tests.traces.factories import simple_trace

pytestmark = pytest.mark.django_db


def exploding_consumer(**kwargs) -> None:
    raise RuntimeError("the consumer broke")


def out_of_time_consumer(**kwargs) -> None:
    raise SoftTimeLimitExceeded()


def test_a_live_claim_is_busy_and_a_claim_older_than_the_time_limit_is_taken_over(project, settings):
    settings.INGEST_BATCH_CONSUMERS = []
    simple_trace(project)
    batch = IngestBatch.objects.get(project=project)
    now = timezone.now()
    IngestBatch.objects.filter(id=batch.id).update(state="running", started_at=now, attempts=1)
    busy = job_claim(INGEST_BATCH_JOB, row_id=batch.id, now=now + timedelta(seconds=5))
    assert busy.outcome is Outcome.BUSY
    assert busy.wait == pytest.approx(INGEST_BATCH_JOB.time_limit - 5 + 1)  # look again when the claim expires
    later = now + timedelta(seconds=INGEST_BATCH_JOB.time_limit + 1)
    taken = job_claim(INGEST_BATCH_JOB, row_id=batch.id, now=later)
    assert (taken.outcome, taken.attempts) == (Outcome.CLAIMED, 2)
    IngestBatch.objects.filter(id=batch.id).update(state="done")
    assert job_claim(INGEST_BATCH_JOB, row_id=batch.id).outcome is Outcome.GONE


def test_an_ingest_batch_that_keeps_failing_ends_failed_with_its_error(project, settings):
    settings.INGEST_BATCH_CONSUMERS = ["tests.core.test_jobs.exploding_consumer"]
    simple_trace(project)
    batch = IngestBatch.objects.get(project=project)
    for _ in range(INGEST_BATCH_JOB.max_attempts - 1):
        with pytest.raises(RuntimeError):
            ingest_batch_process(batch_id=batch.id)
        assert IngestBatch.objects.get(id=batch.id).state == "pending"  # handed back for the sweep
    with pytest.raises(RuntimeError):
        ingest_batch_process(batch_id=batch.id)
    batch.refresh_from_db()
    assert (batch.state, batch.attempts) == ("failed", INGEST_BATCH_JOB.max_attempts)
    assert "the consumer broke" in batch.error
    assert batch.id not in ingest_batch_sweep()  # a failed batch is never sent again by itself


def test_a_soft_time_limit_propagates_and_hands_the_batch_back(project, settings):
    settings.INGEST_BATCH_CONSUMERS = ["tests.core.test_jobs.out_of_time_consumer"]
    simple_trace(project)
    batch = IngestBatch.objects.get(project=project)
    with pytest.raises(SoftTimeLimitExceeded):
        ingest_batch_process(batch_id=batch.id)
    assert IngestBatch.objects.get(id=batch.id).state == "pending"


def test_a_soft_time_limit_inside_a_check_is_not_swallowed_as_one_broken_check(project, monkeypatch):
    from apps.evaluators import services
    from apps.evaluators.models import Evaluator

    class OutOfTime:
        def applies(self, subject, config) -> bool:
            return True

        def run(self, subject, config):
            raise SoftTimeLimitExceeded()

    monkeypatch.setitem(services.CHECKS, Evaluator.Kind.NOT_EMPTY, OutOfTime())
    trace = simple_trace(project)
    with pytest.raises(SoftTimeLimitExceeded):
        services.evaluations_run(project_id=project.id, trace_pks=[trace.id])


def test_a_judge_request_that_keeps_failing_ends_failed_after_its_attempts(project, fake_openai, settings):
    from apps.evaluators.services import (
        JUDGE_REQUEST_JOB,
        EvaluatorSpec,
        JudgeRetry,
        evaluations_run,
        evaluator_create,
        judge_request_run,
    )
    from apps.judges.services import judge_create
    from tests.support.openai_server import Reply

    fake_openai.default = Reply(status=503)
    judge = judge_create(project=project, name="g", base_url=fake_openai.base_url, model="m-2024", api_key="sk-x")
    spec = EvaluatorSpec(name="helpful", kind="llm_judge", config={"rubric": "helpfulness"}, filters={}, judge=judge)
    evaluator = evaluator_create(project=project, spec=spec)
    trace = simple_trace(project)
    evaluations_run(project_id=project.id, trace_pks=[trace.id], evaluators=[evaluator])
    request = JudgeRequest.objects.get(trace=trace)
    for attempt in range(1, JUDGE_REQUEST_JOB.max_attempts):
        with pytest.raises(JudgeRetry) as retry:
            judge_request_run(request_id=request.id)
        assert retry.value.countdown > 0
        row = JudgeRequest.objects.get(id=request.id)
        assert (row.status, row.attempts) == ("pending", attempt)
        assert row.enqueued_at > timezone.now()  # due after its backoff: the sweeper leaves it alone until then
    assert judge_request_run(request_id=request.id).status == "failed"
    row = JudgeRequest.objects.get(id=request.id)
    assert (row.status, row.attempts) == ("failed", JUDGE_REQUEST_JOB.max_attempts)
    assert "503" in row.error or "unavailable" in row.error


def test_the_breaker_probes_the_broker_after_its_back_off_and_closes_when_it_answers(settings):
    from apps.traces.tasks import ingest_batch_sweep_task
    from config.celery import app as celery_app
    from tests.support.broker import UNREACHABLE_BROKER, use_broker

    BREAKER.reset()
    settings.BROKER_BREAKER_SECONDS = 3600
    real = celery_app.conf.broker_url
    use_broker(UNREACHABLE_BROKER)
    try:
        assert task_enqueue(ingest_batch_sweep_task) is False
        assert task_enqueue(ingest_batch_sweep_task) is False
        assert (BREAKER.failures, BREAKER.skipped) == (1, 1)  # the second send never tried the broker
        BREAKER.open_until = 1.0  # the back-off has passed: the next send is the half-open probe
        assert task_enqueue(ingest_batch_sweep_task) is False
        assert (BREAKER.failures, BREAKER.skipped, BREAKER.is_open) == (2, 1, True)
    finally:
        use_broker(real)
    BREAKER.open_until = 1.0
    assert task_enqueue(ingest_batch_sweep_task) is True  # the probe gets through and closes the breaker
    assert not BREAKER.is_open
    BREAKER.reset()
