"""Celery entry points of the feedback app: thin."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="feedback.feedback_link_sweep", ignore_result=True, soft_time_limit=12, time_limit=14)
def feedback_link_sweep_task() -> None:
    """Link feedback that arrived before its trace to traces that have arrived since."""
    from apps.feedback.services import feedback_link_sweep

    feedback_link_sweep()
