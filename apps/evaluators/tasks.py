"""Celery entry points of the evaluators app: thin, taking ids."""

from __future__ import annotations

from celery import shared_task

MAX_JUDGE_RETRIES = 8


@shared_task(
    bind=True,
    name="evaluators.judge_request_run",
    ignore_result=True,
    acks_late=True,
    max_retries=MAX_JUDGE_RETRIES,
    soft_time_limit=90,
    time_limit=120,
)
def judge_request_run_task(self, request_id: int) -> None:  # noqa: ANN001 - Celery's bound task
    """Grade one sampled trace; judge outages and the concurrency limit retry with backoff."""
    from apps.evaluators.services import JudgeBusy, judge_request_fail, judge_request_run
    from apps.judges.llm import JudgeUnavailable, retry_delay

    try:
        judge_request_run(request_id=request_id)
    except JudgeBusy as exc:
        raise self.retry(countdown=retry_delay(0, None), exc=exc, max_retries=None) from exc
    except JudgeUnavailable as exc:
        if self.request.retries >= MAX_JUDGE_RETRIES:
            judge_request_fail(
                request_id=request_id, error=f"judge unavailable after {MAX_JUDGE_RETRIES} retries: {exc}"
            )
            return
        raise self.retry(countdown=retry_delay(self.request.retries, exc.retry_after), exc=exc) from exc


@shared_task(name="evaluators.backfill_run", ignore_result=True, acks_late=True, soft_time_limit=240, time_limit=300)
def backfill_run_task(backfill_id: int) -> None:
    """Evaluate one chunk of a backfill, then queue the next chunk."""
    from apps.evaluators.services import backfill_step

    if backfill_step(backfill_id=backfill_id):
        backfill_run_task.apply_async(args=[backfill_id])


@shared_task(name="evaluators.judge_requests_sweep", ignore_result=True, soft_time_limit=50, time_limit=60)
def judge_requests_sweep_task() -> None:
    """Re-enqueue judge requests that were accepted while the broker was down."""
    from apps.evaluators.services import judge_requests_sweep

    judge_requests_sweep()


@shared_task(name="evaluators.backfills_sweep", ignore_result=True, soft_time_limit=50, time_limit=60)
def backfills_sweep_task() -> None:
    """Restart backfills whose chunk tasks were lost."""
    from apps.evaluators.services import backfills_sweep

    backfills_sweep()
