"""Celery entry points of the evaluators app: thin, taking ids."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

JUDGE_TASK_TIME_LIMIT = settings.JUDGE_TASK_TIME_LIMIT
BACKFILL_TASK_TIME_LIMIT = settings.BACKFILL_TASK_TIME_LIMIT


@shared_task(
    bind=True,
    name="evaluators.judge_request_run",
    ignore_result=True,
    acks_late=True,
    max_retries=None,  # the row counts attempts: JUDGE_MAX_ATTEMPTS end it in failed
    soft_time_limit=max(1, JUDGE_TASK_TIME_LIMIT - 10),
    time_limit=JUDGE_TASK_TIME_LIMIT,
)
def judge_request_run_task(self, request_id: int) -> None:  # noqa: ANN001 - Celery's bound task
    """Grade one sampled trace; a judge outage retries with backoff, a live claim elsewhere is checked at expiry."""
    from apps.evaluators.services import JudgeRetry, judge_request_run

    try:
        run = judge_request_run(request_id=request_id)
    except JudgeRetry as exc:
        raise self.retry(countdown=exc.countdown, exc=exc) from exc
    if run.status == "busy":
        raise self.retry(countdown=run.wait)


@shared_task(
    bind=True,
    name="evaluators.backfill_run",
    ignore_result=True,
    acks_late=True,
    max_retries=None,
    soft_time_limit=max(1, BACKFILL_TASK_TIME_LIMIT - 10),
    time_limit=BACKFILL_TASK_TIME_LIMIT,
)
def backfill_run_task(self, backfill_id: int) -> None:  # noqa: ANN001 - Celery's bound task
    """Evaluate one chunk of a backfill, then queue the next chunk."""
    from apps.evaluators.services import backfill_enqueue, backfill_step

    step = backfill_step(backfill_id=backfill_id)
    if step.wait:
        raise self.retry(countdown=step.wait)
    if step.more:
        backfill_enqueue(backfill_id=backfill_id)


@shared_task(name="evaluators.judge_requests_sweep", ignore_result=True, soft_time_limit=10, time_limit=12)
def judge_requests_sweep_task() -> None:
    """Send jobs for judge requests with none in flight."""
    from apps.evaluators.services import judge_requests_sweep

    judge_requests_sweep()


@shared_task(name="evaluators.backfills_sweep", ignore_result=True, soft_time_limit=10, time_limit=12)
def backfills_sweep_task() -> None:
    """Send chunk jobs for backfills with none in flight."""
    from apps.evaluators.services import backfills_sweep

    backfills_sweep()


@shared_task(name="evaluators.versions_sync", ignore_result=True, soft_time_limit=30, time_limit=40)
def evaluator_versions_sync_task() -> None:
    """Move evaluators whose check logic changed in this release to their new version."""
    from apps.evaluators.services import evaluator_versions_sync

    evaluator_versions_sync()
