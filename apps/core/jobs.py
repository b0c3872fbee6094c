"""Row-claimed jobs: a database row is the job's truth, Celery only carries its id.

One shape for every such job (ingest batches, judge requests, backfills, and later calibration and
alert evaluation): claim by conditional UPDATE, take over a claim older than the task's hard time
limit (its worker is dead: prefork kills a task at that limit), end in done or, after
`max_attempts`, in failed with the error; and a sweeper that re-sends rows with no job in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from django.db import connection, models
from django.db.models import F, Q
from django.utils import timezone

# `enqueued_at` of a row whose job is known not to be in flight (send failed, or parked for a slot).
NOT_SENT = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RowJob:
    """How one model's rows are claimed: field names, states, and the limits of its task."""

    model: type[models.Model]
    time_limit: int  # the task's hard time limit (s): a claim older than this has no live worker
    in_flight: int  # how long (s) a sent job may wait in the queue before the sweeper sends another
    max_attempts: int
    status: str = "status"
    claimed_at: str = "started_at"
    enqueued_at: str = "enqueued_at"
    pending: str = "pending"
    running: str = "running"
    done: str = "done"
    failed: str = "failed"

    def rows(self, **filters: Any) -> models.QuerySet:
        return self.model._default_manager.filter(**filters)

    def claimable(self, now: datetime) -> Q:
        """Pending, or running without a live claim (none, or older than the time limit)."""
        stale = now - timedelta(seconds=self.time_limit)
        running = Q(**{self.status: self.running})
        return (
            Q(**{self.status: self.pending})
            | (running & Q(**{f"{self.claimed_at}__isnull": True}))
            | (running & Q(**{f"{self.claimed_at}__lt": stale}))
        )


class Outcome(Enum):
    CLAIMED = "claimed"  # this worker owns the row until it finishes or releases it
    BUSY = "busy"  # another worker's claim is still live; look again when it expires (`wait`)
    GONE = "gone"  # finished, failed, discarded or deleted: a redelivery is a no-op


@dataclass(frozen=True)
class Claim:
    outcome: Outcome
    token: datetime | None = None  # the claimed_at written: later writes are conditional on it
    wait: float = 0.0
    attempts: int = 0


def job_claim(job: RowJob, *, row_id: int, now: datetime | None = None) -> Claim:
    """Claim a row: pending → running, or take over a running row whose claim outlived the time limit."""
    now = now or timezone.now()
    claimed = job.rows(id=row_id).filter(job.claimable(now))
    if claimed.update(**{job.status: job.running, job.claimed_at: now, "attempts": F("attempts") + 1}) == 1:
        attempts = job.rows(id=row_id).values_list("attempts", flat=True).first() or 0
        return Claim(Outcome.CLAIMED, token=now, attempts=attempts)
    row = job.rows(id=row_id).values(job.status, job.claimed_at).first()
    if row is None or row[job.status] != job.running:
        return Claim(Outcome.GONE)
    if row[job.claimed_at] is None:  # released between our UPDATE and this read: try again shortly
        return Claim(Outcome.BUSY, wait=1.0)
    expires = row[job.claimed_at] + timedelta(seconds=job.time_limit)
    return Claim(Outcome.BUSY, wait=max(1.0, (expires - now).total_seconds() + 1.0))


def _owned(job: RowJob, row_id: int, token: datetime) -> models.QuerySet:
    # Conditional on our claim: a worker that was taken over never overwrites the new owner's result.
    return job.rows(id=row_id, **{job.status: job.running, job.claimed_at: token})


def job_finish(job: RowJob, *, row_id: int, token: datetime, status: str | None = None, **fields: Any) -> bool:
    """End an owned claim in done (or `status`, with extra fields); False if the claim was lost."""
    return _owned(job, row_id, token).update(**{job.status: status or job.done, **fields}) == 1


def job_release(
    job: RowJob, *, row_id: int, token: datetime, error: str, retry_in: float = 0.0, **fields: Any
) -> str | None:
    """Hand an owned row back after a failed attempt: pending for a retry, or failed with the error once its
    attempts are used up. Return the new status (None if the claim was lost)."""
    now = timezone.now()
    error = error[:2000]
    owned = _owned(job, row_id, token)
    if owned.filter(attempts__gte=job.max_attempts).update(**{job.status: job.failed, "error": error, **fields}):
        return job.failed
    # The retry's message is due at now + retry_in: the sweeper counts its in-flight window from then.
    pending = {job.status: job.pending, job.claimed_at: None, job.enqueued_at: now + timedelta(seconds=retry_in)}
    if owned.update(**pending, error=error, **fields):
        return job.pending
    return None


def job_fail(job: RowJob, *, row_id: int, error: str, **fields: Any) -> bool:
    """Mark a pending or running row failed with its error (a task that ran out of retries)."""
    rows = job.rows(id=row_id, **{f"{job.status}__in": [job.pending, job.running]})
    return rows.update(**{job.status: job.failed, "error": error[:2000], **fields}) == 1


def job_retry(job: RowJob, *, row_id: int, **filters: Any) -> bool:
    """Give a failed row another run: back to pending with fresh attempts (the caller sends its job)."""
    rows = job.rows(id=row_id, **{job.status: job.failed}, **filters)
    reset = {job.status: job.pending, job.claimed_at: None, job.enqueued_at: timezone.now()}
    return rows.update(**reset, attempts=0, error="") == 1


def job_mark_sent(job: RowJob, *, row_ids: Iterable[int], sent: bool) -> None:
    """Record whether a job was sent, so the sweeper knows which rows have one in flight."""
    job.rows(id__in=list(row_ids)).update(**{job.enqueued_at: timezone.now() if sent else NOT_SENT})


def job_sweep_candidates(job: RowJob, *, now: datetime | None = None) -> models.QuerySet:
    """Rows with no job in flight: pending and not sent within `in_flight`, or running with a dead claim."""
    now = now or timezone.now()
    quiet = now - timedelta(seconds=job.in_flight)
    not_in_flight = Q(**{f"{job.enqueued_at}__isnull": True}) | Q(**{f"{job.enqueued_at}__lt": quiet})
    stale = now - timedelta(seconds=job.time_limit)
    dead = Q(**{job.status: job.running, f"{job.claimed_at}__lt": stale})
    # A running row with a dead claim may already have a redelivered task waiting on it: same window.
    return job.rows().filter((Q(**{job.status: job.pending}) | dead) & not_in_flight)


def job_sweep(
    job: RowJob,
    *,
    send: Callable[[int], bool],
    limit: int = 500,
    pick: Callable[[models.QuerySet], list[int]] | None = None,
) -> list[int]:
    """Send a job for each row without one in flight (oldest first); stop at the first broker failure.

    Return the ids sent. The shape every `*_sweep_task` shares; `pick` chooses among the candidates
    (e.g. only as many per project as it has free slots).
    """
    candidates = job_sweep_candidates(job).order_by("created_at", "id")
    ids = pick(candidates) if pick else list(candidates.values_list("id", flat=True)[:limit])
    sent: list[int] = []
    for row_id in ids[:limit]:
        if not send(row_id):
            break
        sent.append(row_id)
    job_mark_sent(job, row_ids=sent, sent=True)
    return sent


def advisory_xact_lock(key: int, *, wait: bool) -> bool:
    """Take a transaction-scoped PostgreSQL advisory lock (wait for it, or try once); return whether it is held.

    One drain at a time per key (rollups, session summaries): a second run finds the lock taken and returns."""
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [key])
        return bool(cursor.fetchone()[0])
