"""Celery entrypoints of review: thin, taking ids."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="review.review_route", ignore_result=True, acks_late=True, soft_time_limit=60, time_limit=90)
def review_route_task(project_id: int, trace_pks: list[int]) -> None:
    """Apply the project's routing rules to traces whose scores just changed; a redelivery is a no-op."""
    from apps.review.services import review_route

    review_route(project_id=project_id, trace_pks=trace_pks)
