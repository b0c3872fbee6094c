"""Celery entry points of the feedback app: thin."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="feedback.feedback_link_sweep", ignore_result=True, soft_time_limit=12, time_limit=14)
def feedback_link_sweep_task() -> None:
    """Link feedback that arrived before its trace to traces that have arrived since."""
    from apps.feedback.services import feedback_link_sweep

    feedback_link_sweep()


@shared_task(name="feedback.feedback_infer_batch", ignore_result=True, soft_time_limit=50, time_limit=55)
def feedback_infer_batch_task(project_id: int, trace_pks: list[int]) -> None:
    """Infer regenerations and rephrasings (and abandonments) in the sessions one ingest batch touched."""
    from apps.feedback.services import feedback_infer_batch

    feedback_infer_batch(project_id=project_id, trace_pks=trace_pks)


@shared_task(name="feedback.feedback_abandon_sweep", ignore_result=True, soft_time_limit=18, time_limit=19)
def feedback_abandon_sweep_task() -> None:
    """Record abandonment for sessions whose inactivity window has just closed."""
    from apps.feedback.services import feedback_abandon_sweep

    feedback_abandon_sweep()
