"""Celery entry points of the traces app: thin, taking ids."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

INGEST_BATCH_TIME_LIMIT = settings.INGEST_BATCH_TIME_LIMIT


@shared_task(
    bind=True,
    name="traces.ingest_batch_process",
    ignore_result=True,
    acks_late=True,
    max_retries=None,
    soft_time_limit=max(1, INGEST_BATCH_TIME_LIMIT - 5),
    time_limit=INGEST_BATCH_TIME_LIMIT,
)
def ingest_batch_process_task(self, batch_id: int) -> None:  # noqa: ANN001 - Celery's bound task
    """Run the post-ingest work of one accepted batch; a redelivery takes over a dead worker's claim."""
    from apps.core.jobs import Outcome
    from apps.traces.services import ingest_batch_run

    claim = ingest_batch_run(batch_id=batch_id)
    if claim.outcome is Outcome.BUSY:
        # Another worker holds a live claim (or did, and died): look again once that claim has expired.
        raise self.retry(countdown=claim.wait)


@shared_task(name="traces.ingest_batch_sweep", ignore_result=True, soft_time_limit=10, time_limit=12)
def ingest_batch_sweep_task() -> None:
    """Send jobs for batches with none in flight (broker was down, handed back, or a dead worker's claim)."""
    from apps.traces.services import ingest_batch_sweep

    ingest_batch_sweep()


@shared_task(name="traces.pending_evaluations_sweep", ignore_result=True, soft_time_limit=50, time_limit=60)
def pending_evaluations_sweep_task() -> None:
    """Resolve evaluations waiting for their response's span; reject those past the grace period."""
    from apps.traces.services import pending_evaluations_sweep

    pending_evaluations_sweep()


@shared_task(name="traces.bookkeeping_prune", ignore_result=True, soft_time_limit=300, time_limit=330)
def bookkeeping_prune_task() -> None:
    """Delete finished ingest batches, stale pending content and old rejected evaluation events, in batches."""
    from apps.traces.services import ingest_batches_prune, pending_contents_prune, pending_evaluations_prune

    ingest_batches_prune()
    pending_contents_prune()
    pending_evaluations_prune()


@shared_task(name="traces.partitions_analyze", ignore_result=True, soft_time_limit=50, time_limit=55)
def partitions_analyze_task() -> None:
    """Statistics for the day partitions being written (autovacuum may be off): see partitions_analyze."""
    from apps.core.partitions import partitions_analyze

    partitions_analyze()


@shared_task(name="traces.data_lifecycle", ignore_result=True, soft_time_limit=900, time_limit=960)
def data_lifecycle_task() -> None:
    """Create partitions ahead (reporting gaps), then apply retention (traces here; scores by dotted path)."""
    from django.utils.module_loading import import_string

    from apps.core.partitions import partitions_maintain

    partitions_maintain()
    for path in settings.RETENTION_EXPIRERS:
        import_string(path)()
