"""Celery entry points of the judges app: thin, taking ids."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

JUDGE_PREVIEW_TIME_LIMIT = settings.JUDGE_PREVIEW_TIME_LIMIT


@shared_task(
    bind=True,
    name="judges.judge_preview_run",
    ignore_result=True,
    acks_late=True,
    max_retries=None,
    soft_time_limit=max(1, JUDGE_PREVIEW_TIME_LIMIT - 10),
    time_limit=JUDGE_PREVIEW_TIME_LIMIT,
)
def judge_preview_run_task(self, preview_id: int) -> None:  # noqa: ANN001 - Celery's bound task
    """Run one "Try it" preview; a redelivery takes over a dead worker's claim."""
    from apps.core.jobs import Outcome
    from apps.judges.services import judge_preview_run

    claim = judge_preview_run(preview_id=preview_id)
    if claim.outcome is Outcome.BUSY:
        raise self.retry(countdown=claim.wait)


@shared_task(name="judges.judge_previews_sweep", ignore_result=True, soft_time_limit=10, time_limit=12)
def judge_previews_sweep_task() -> None:
    """Send jobs for previews with none in flight."""
    from apps.judges.services import judge_previews_sweep

    judge_previews_sweep()


@shared_task(name="judges.bookkeeping_prune", ignore_result=True, soft_time_limit=300, time_limit=330)
def bookkeeping_prune_task() -> None:
    """Delete finished judge requests and old judge previews, in batches."""
    from apps.judges.services import judge_previews_prune, judge_requests_prune

    judge_requests_prune()
    judge_previews_prune()


JUDGE_CALIBRATION_TIME_LIMIT = settings.JUDGE_CALIBRATION_TIME_LIMIT


@shared_task(
    name="judges.calibration_run",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=max(1, JUDGE_CALIBRATION_TIME_LIMIT - 30),
    time_limit=JUDGE_CALIBRATION_TIME_LIMIT,
)
def calibration_run_task(run_id: int) -> None:
    """Grade a judge version's ungraded human-labeled traces and record its agreement; a redelivery is a no-op."""
    from apps.judges.calibration import calibration_run

    calibration_run(run_id=run_id)


@shared_task(name="judges.calibrations_daily", ignore_result=True, soft_time_limit=60, time_limit=90)
def calibrations_daily_task() -> None:
    """Queue a calibration run of every active judge's current and shadow versions."""
    from apps.judges.calibration import calibrations_daily

    calibrations_daily()
