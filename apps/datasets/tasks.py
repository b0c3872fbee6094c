"""Celery entry points of the datasets app: thin, taking ids."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

OFFLINE_RUN_TASK_TIME_LIMIT = settings.OFFLINE_RUN_TASK_TIME_LIMIT


@shared_task(
    bind=True,
    name="datasets.offline_run_score",
    ignore_result=True,
    acks_late=True,
    max_retries=None,  # the row counts attempts: OFFLINE_RUN_MAX_ATTEMPTS end it in failed
    soft_time_limit=max(1, OFFLINE_RUN_TASK_TIME_LIMIT - 10),
    time_limit=OFFLINE_RUN_TASK_TIME_LIMIT,
)
def offline_run_score_task(self, run_id: int) -> None:  # noqa: ANN001 - Celery's bound task
    """Score one chunk of an offline run's items, then queue the next chunk (or finish with its metrics)."""
    from apps.datasets.offline import OfflineRunRetry, offline_run_enqueue, offline_run_step

    try:
        step = offline_run_step(run_id=run_id)
    except OfflineRunRetry as exc:
        raise self.retry(countdown=exc.countdown, exc=exc) from exc
    if step.wait:
        raise self.retry(countdown=step.wait)
    if step.more:
        offline_run_enqueue(run_id=run_id)


@shared_task(name="datasets.offline_runs_sweep", ignore_result=True, soft_time_limit=10, time_limit=12)
def offline_runs_sweep_task() -> None:
    """Send scoring jobs for offline runs with none in flight."""
    from apps.datasets.offline import offline_runs_sweep

    offline_runs_sweep()
