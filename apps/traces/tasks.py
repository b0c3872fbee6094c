"""Celery entry points of the traces app: thin, taking ids."""

from __future__ import annotations

from celery import shared_task


@shared_task(
    name="traces.ingest_batch_process", ignore_result=True, acks_late=True, soft_time_limit=120, time_limit=180
)
def ingest_batch_process_task(batch_id: int) -> None:
    """Run the post-ingest work of one accepted batch; a redelivery is a no-op."""
    from apps.traces.services import ingest_batch_process

    ingest_batch_process(batch_id=batch_id)


@shared_task(name="traces.ingest_batch_sweep", ignore_result=True, soft_time_limit=50, time_limit=60)
def ingest_batch_sweep_task() -> None:
    """Re-enqueue batches that were accepted while the broker was down."""
    from apps.traces.services import ingest_batch_sweep

    ingest_batch_sweep()


@shared_task(name="traces.pending_evaluations_sweep", ignore_result=True, soft_time_limit=50, time_limit=60)
def pending_evaluations_sweep_task() -> None:
    """Resolve evaluations waiting for their response's span; reject those past the grace period."""
    from apps.traces.services import pending_evaluations_sweep

    pending_evaluations_sweep()
