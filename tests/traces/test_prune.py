"""The hourly prune of traces' bookkeeping rows: finished and old rows go, recent and failed ones stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.prune import PRUNE_BATCH_SIZE
from apps.traces.models import IngestBatch, PendingEvaluation, PendingSpanContent
from apps.traces.services import ingest_batches_prune, pending_contents_prune, pending_evaluations_prune
from apps.traces.tasks import bookkeeping_prune_task

pytestmark = pytest.mark.django_db


def batches(project, state: str, *, days_old: float, count: int = 1) -> list[int]:
    """Create ingest batches in `state`, created `days_old` days ago; return their ids."""
    rows = IngestBatch.objects.bulk_create([IngestBatch(project=project, state=state) for _ in range(count)])
    ids = [row.id for row in rows]
    IngestBatch.objects.filter(id__in=ids).update(created_at=timezone.now() - timedelta(days=days_old))
    return ids


def test_done_and_discarded_batches_older_than_the_retention_go_failed_and_recent_ones_stay(project, settings):
    settings.BOOKKEEPING_RETENTION_DAYS = 7
    old = batches(project, "done", days_old=8) + batches(project, "discarded", days_old=30)
    kept = (
        batches(project, "failed", days_old=30)  # listed under Dead letters until an admin discards it
        + batches(project, "done", days_old=6)
        + batches(project, "pending", days_old=30)
        + batches(project, "running", days_old=30)
    )
    assert ingest_batches_prune() == 2
    remaining = set(IngestBatch.objects.filter(id__in=old + kept).values_list("id", flat=True))
    assert remaining == set(kept)


def test_a_prune_over_more_rows_than_one_batch_deletes_them_all(project):
    old = batches(project, "done", days_old=10, count=PRUNE_BATCH_SIZE + 7)
    recent = batches(project, "done", days_old=1)
    assert ingest_batches_prune() == PRUNE_BATCH_SIZE + 7
    assert not IngestBatch.objects.filter(id__in=old).exists()
    assert IngestBatch.objects.filter(id__in=recent).count() == 1


def test_pending_content_goes_after_its_grace_period(project, settings):
    settings.INGEST_PENDING_CONTENT_GRACE_SECONDS = 3600
    stale, fresh = PendingSpanContent.objects.bulk_create(
        [PendingSpanContent(project=project, trace_id="a" * 32, span_id=sid * 16) for sid in "bc"]
    )
    PendingSpanContent.objects.filter(id=stale.id).update(received_at=timezone.now() - timedelta(seconds=3700))
    PendingSpanContent.objects.filter(id=fresh.id).update(received_at=timezone.now() - timedelta(seconds=3500))
    assert pending_contents_prune() == 1
    assert list(PendingSpanContent.objects.filter(project=project).values_list("id", flat=True)) == [fresh.id]


def test_rejected_evaluations_go_after_the_retention_waiting_ones_stay(project, settings):
    settings.BOOKKEEPING_RETENTION_DAYS = 7
    now = timezone.now()
    long_ago = now - timedelta(days=9)

    def evaluation(state: str, rejected_days: float | None) -> PendingEvaluation:
        rejected_at = now - timedelta(days=rejected_days) if rejected_days is not None else None
        return PendingEvaluation.objects.create(
            project=project, response_id="resp-1", state=state, received_at=long_ago, rejected_at=rejected_at
        )

    old = evaluation("rejected", 8)
    recent = evaluation("rejected", 2)
    waiting = evaluation("pending", None)
    assert pending_evaluations_prune() == 1
    assert set(PendingEvaluation.objects.filter(project=project).values_list("id", flat=True)) == {
        recent.id,
        waiting.id,
    }
    assert not PendingEvaluation.objects.filter(id=old.id).exists()


def test_the_task_prunes_every_traces_table(project, settings):
    settings.INGEST_PENDING_CONTENT_GRACE_SECONDS = 60
    batch_ids = batches(project, "done", days_old=30)
    content = PendingSpanContent.objects.create(project=project, trace_id="d" * 32, span_id="e" * 16)
    PendingSpanContent.objects.filter(id=content.id).update(received_at=timezone.now() - timedelta(days=1))
    rejected = PendingEvaluation.objects.create(
        project=project,
        response_id="r",
        state="rejected",
        received_at=timezone.now() - timedelta(days=30),
        rejected_at=timezone.now() - timedelta(days=30),
    )
    bookkeeping_prune_task()
    assert not IngestBatch.objects.filter(id__in=batch_ids).exists()
    assert not PendingSpanContent.objects.filter(id=content.id).exists()
    assert not PendingEvaluation.objects.filter(id=rejected.id).exists()
