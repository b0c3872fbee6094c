"""Celery entrypoints of scores: the rollup drain, the rollup retention prune and the session summary drain."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="scores.rollups_drain", ignore_result=True, soft_time_limit=50, time_limit=60)
def rollups_drain_task() -> int:
    """Recompute the dirty rollup minutes; a second concurrent run returns at once."""
    from apps.scores.rollups import rollups_drain

    return rollups_drain()


@shared_task(name="scores.session_summaries_drain", ignore_result=True, soft_time_limit=50, time_limit=60)
def session_summaries_drain_task() -> int:
    """Recompute the dirty session summaries; a second concurrent run returns at once."""
    from apps.scores.sessions import session_summaries_drain

    return session_summaries_drain()


@shared_task(name="scores.rollups_prune", ignore_result=True, soft_time_limit=300, time_limit=360)
def rollups_prune_task() -> int:
    """Delete rollups past ROLLUP_RETENTION_DAYS in bounded batches."""
    from apps.scores.rollups import rollups_prune

    return rollups_prune()
