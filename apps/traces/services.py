"""Writes for traces: storing normalized spans, completing trace rows, post-ingest batches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.core.jobs import (
    Claim,
    Outcome,
    RowJob,
    job_claim,
    job_finish,
    job_mark_sent,
    job_release,
    job_retry,
    job_sweep,
)
from apps.core.queue import task_enqueue
from apps.projects.models import Project
from apps.traces import bulk
from apps.traces.bulk import SPAN_FIELDS  # noqa: F401 - re-exported: the Span columns a NormalizedSpan fills
from apps.traces.models import IngestBatch, PendingSpanContent, Span
from apps.traces.normalize import LogContent, NormalizedSpan, merge_log_content


@dataclass
class IngestResult:
    """What one ingest call stored: spans accepted (duplicates included), new ones, and the batch."""

    accepted: int = 0
    inserted: int = 0
    trace_ids: list[str] = field(default_factory=list)
    batch_id: int | None = None


# Every derived field of a trace, from its spans. One template serves two statements so they cannot drift:
# TRACE_RECOMPUTE_SQL (UPDATE from all stored spans of existing traces) and TRACE_CREATE_SQL (INSERT of
# brand-new traces from the staged spans of this request, which are then all their spans).
_AGG_CTES = """
WITH agg AS (
    SELECT {key} AS tid,
        min(s.started_at) AS started_at,
        max(s.ended_at) AS ended_at,
        count(*) AS span_count,
        bool_or(s.status = 'error') AS any_error,
        sum(s.input_tokens) FILTER (WHERE s.kind IN ('llm', 'embedding')) AS input_tokens,
        sum(s.output_tokens) FILTER (WHERE s.kind IN ('llm', 'embedding')) AS output_tokens,
        sum(coalesce(s.total_tokens, s.input_tokens + s.output_tokens)) FILTER (WHERE s.kind IN ('llm', 'embedding'))
            AS total_tokens,
        sum(s.cost_total) FILTER (WHERE s.kind IN ('llm', 'embedding')) AS cost,
        -- The model and provider of the last LLM call: the one the answer came from.
        (array_agg(s.model ORDER BY s.ended_at DESC) FILTER (WHERE s.kind = 'llm' AND s.model <> ''))[1] AS model,
        (array_agg(s.provider ORDER BY s.ended_at DESC) FILTER (WHERE s.kind = 'llm' AND s.provider <> ''))[1]
            AS provider,
        (array_agg(s.model ORDER BY s.ended_at DESC) FILTER (WHERE s.model <> ''))[1] AS any_model,
        -- Request-wide dimensions: the root's value first, else the earliest span that carries one.
        (array_agg(s.route ORDER BY s.is_root DESC, s.started_at) FILTER (WHERE s.route <> ''))[1] AS route,
        (array_agg(s.environment ORDER BY s.is_root DESC, s.started_at) FILTER (WHERE s.environment <> ''))[1]
            AS environment,
        (array_agg(s.prompt_name ORDER BY s.is_root DESC, s.started_at) FILTER (WHERE s.prompt_name <> ''))[1]
            AS prompt_name,
        (array_agg(s.prompt_version ORDER BY s.is_root DESC, s.started_at) FILTER (WHERE s.prompt_version <> ''))[1]
            AS prompt_version,
        (array_agg(s.release ORDER BY s.is_root DESC, s.started_at) FILTER (WHERE s.release <> ''))[1] AS release,
        (array_agg(s.user_id ORDER BY s.is_root DESC, s.started_at) FILTER (WHERE s.user_id <> ''))[1] AS user_id,
        (array_agg(s.session_id ORDER BY s.is_root DESC, s.started_at) FILTER (WHERE s.session_id <> ''))[1]
            AS session_id,
        (array_agg(s.trace_name ORDER BY s.is_root DESC, s.started_at) FILTER (WHERE s.trace_name <> ''))[1]
            AS trace_name,
        (array_agg(s.input_text ORDER BY s.started_at) FILTER (WHERE s.kind = 'llm' AND s.input_text <> ''))[1]
            AS llm_input,
        (array_agg(s.output_text ORDER BY s.ended_at DESC) FILTER (WHERE s.kind = 'llm' AND s.output_text <> ''))[1]
            AS llm_output,
        (array_agg(s.error_message ORDER BY s.started_at) FILTER (WHERE s.status = 'error'))[1] AS first_error
    FROM {table}
    WHERE {where}
    GROUP BY {key}
),
root AS (
    SELECT DISTINCT ON ({key}) {key} AS tid, s.span_id, s.is_root, s.name, s.input_text, s.output_text,
        s.status, s.error_message, s.started_at, s.ended_at, s.attributes, s.resource
    FROM {table}
    WHERE {where}
    ORDER BY {key}, s.is_root DESC, s.started_at ASC, s.span_id
),
tags AS (
    SELECT {key} AS tid, array_agg(DISTINCT tag ORDER BY tag) AS tags
    FROM {table}, unnest(s.tags) AS tag
    WHERE {where}
    GROUP BY {key}
)"""

# (column, expression over agg/root/tags); {prior_metadata} is the metadata kept when no root span is known.
_DERIVED = (
    ("started_at", "agg.started_at"),
    ("ended_at", "agg.ended_at"),
    ("latency_ms", "EXTRACT(EPOCH FROM (agg.ended_at - agg.started_at)) * 1000.0"),
    ("span_count", "agg.span_count"),
    ("name", "left(coalesce(nullif(agg.trace_name, ''), root.name, ''), 500)"),
    ("root_span_id", "CASE WHEN root.is_root THEN root.span_id ELSE '' END"),
    ("route", "coalesce(agg.route, '')"),
    ("environment", "coalesce(agg.environment, '')"),
    ("model", "coalesce(agg.model, agg.any_model, '')"),
    ("provider", "coalesce(agg.provider, '')"),
    ("prompt_name", "coalesce(agg.prompt_name, '')"),
    ("prompt_version", "coalesce(agg.prompt_version, '')"),
    ("release", "coalesce(agg.release, '')"),
    ("user_id", "coalesce(agg.user_id, '')"),
    ("session_id", "coalesce(agg.session_id, '')"),
    ("tags", "coalesce(tags.tags, '{{}}')"),
    ("input_text", "coalesce(nullif(root.input_text, ''), agg.llm_input, '')"),
    ("output_text", "coalesce(nullif(root.output_text, ''), agg.llm_output, '')"),
    (
        "status",
        "CASE WHEN root.is_root AND root.status <> 'unset' THEN root.status\n"
        "                  WHEN agg.any_error THEN 'error' ELSE root.status END",
    ),
    (
        "error",
        "coalesce(CASE WHEN root.is_root AND root.status = 'error' THEN root.error_message END, agg.first_error, '')",
    ),
    ("input_tokens", "agg.input_tokens"),
    ("output_tokens", "agg.output_tokens"),
    ("total_tokens", "agg.total_tokens"),
    ("cost", "agg.cost"),
    (
        "metadata",
        "CASE WHEN root.is_root THEN jsonb_build_object('attributes', root.attributes, "
        "'resource', root.resource)\n                    ELSE {prior_metadata} END",
    ),
)

# One statement recomputes every derived field of the touched traces from all their spans, so the
# result does not depend on the order spans arrive in, and running it twice changes nothing.
TRACE_RECOMPUTE_SQL = (
    _AGG_CTES.format(key="s.trace_id", table="traces_span s", where="s.trace_id = ANY(%(ids)s)")
    + "\nUPDATE traces_trace t SET\n"
    + "".join(f"    {col} = {expr.format(prior_metadata='t.metadata')},\n" for col, expr in _DERIVED)
    + "    updated_at = now()\nFROM agg\nJOIN root ON root.tid = agg.tid\nLEFT JOIN tags ON tags.tid = agg.tid\n"
    + "WHERE t.id = agg.tid\n"
)

# Brand-new traces of one request, created with their derived fields from the staged spans (all the spans
# such a trace has), so they are written once instead of INSERT + recompute UPDATE. A trace that already
# exists (or that a concurrent request creates first) is skipped here and recomputed after the span insert.
TRACE_CREATE_SQL = (
    _AGG_CTES.format(
        key="s.trace_hex", table=f"{bulk.STAGE_TABLE} s", where="s.trace_hex <> ALL(%(existing)s::varchar[])"
    )
    + "\nINSERT INTO traces_trace (project_id, trace_id, created_at, updated_at, has_feedback, "
    + ", ".join(col for col, _ in _DERIVED)
    + ")\nSELECT %(project)s, agg.tid, now(), now(), false,\n"
    + ",\n".join("    " + expr.format(prior_metadata="'{}'::jsonb") for _, expr in _DERIVED)
    + "\nFROM agg\nJOIN root ON root.tid = agg.tid\nLEFT JOIN tags ON tags.tid = agg.tid\n"
    + "ON CONFLICT (project_id, trace_id) DO NOTHING\nRETURNING trace_id, id\n"
)

# Trace rows for ids known before their spans (scores, evaluations): every NOT NULL column supplied,
# since Django's field defaults are not database defaults.
TRACE_ENSURE_SQL = """
INSERT INTO traces_trace (project_id, trace_id, started_at, created_at, updated_at, name, route, environment, model,
    provider, prompt_name, prompt_version, release, user_id, session_id, tags, metadata, input_text, output_text,
    status, error, span_count, root_span_id, has_feedback)
SELECT %(project)s, u.tid, u.started_at, now(), now(), '', '', '', '', '', '', '', '', '', '', '{}', '{}'::jsonb,
    '', '', 'unset', '', 0, '', false
FROM unnest(%(tids)s::varchar[], %(started)s::timestamptz[]) AS u(tid, started_at)
ON CONFLICT (project_id, trace_id) DO NOTHING
"""
TRACE_IDS_SQL = "SELECT trace_id, id FROM traces_trace WHERE project_id = %(project)s AND trace_id = ANY(%(tids)s)"
# TRACE_IDS_SQL plus a flag row ('', 0) when log content waits for spans of these traces: one round trip.
TRACE_LOOKUP_SQL = (
    "SELECT trace_id, id FROM traces_trace WHERE project_id = %(project)s AND trace_id = ANY(%(tids)s::varchar[])\n"
    "UNION ALL\n"
    "SELECT '', 0 WHERE EXISTS (SELECT 1 FROM traces_pendingspancontent\n"
    "    WHERE project_id = %(project)s AND trace_id = ANY(%(tids)s::varchar[]))"
)
# IngestBatch.objects.create(...) without the ORM: every NOT NULL column, the model's defaults.
INGEST_BATCH_INSERT_SQL = (
    "INSERT INTO traces_ingestbatch (project_id, trace_ids, span_count, state, attempts, created_at) "
    f"VALUES (%(project)s, %(touched)s::bigint[], %(spans)s, '{IngestBatch.State.PENDING.value}', 0, %(now)s) "
    "RETURNING id"
)


def traces_recompute(*, trace_pks: Sequence[int]) -> None:
    """Recompute the derived fields of these traces from all their stored spans."""
    if not trace_pks:
        return
    with connection.cursor() as cursor:
        cursor.execute(TRACE_RECOMPUTE_SQL, {"ids": list(trace_pks)})


def _trace_ids(cursor, *, project_id: int, tids: list[str]) -> dict[str, int]:
    cursor.execute(TRACE_IDS_SQL, {"project": project_id, "tids": tids})
    return dict(cursor.fetchall())


def traces_ensure(*, project: Project, started: dict[str, datetime]) -> dict[str, int]:
    """Create missing trace rows (trace_id → first known time); return trace_id → row id."""
    if not started:
        return {}
    tids = list(started)
    with connection.cursor() as cursor:
        cursor.execute(TRACE_ENSURE_SQL, {"project": project.pk, "tids": tids, "started": [started[t] for t in tids]})
        return _trace_ids(cursor, project_id=project.pk, tids=tids)


def _trace_lookup(*, project: Project, tids: list[str]) -> tuple[dict[str, int], bool]:
    """One round trip: the request's traces that exist already (trace_id → row id), and whether any log
    content waits for spans of these traces (a row with trace_id '' flags it; real ids are 32 hex digits)."""
    with bulk.bound_cursor() as cursor:
        cursor.execute(TRACE_LOOKUP_SQL, {"project": project.pk, "tids": tids})
        existing = dict(cursor.fetchall())
    has_pending = existing.pop("", None) is not None
    return existing, has_pending


def _trace_rows_ensure(
    *, project: Project, tids: list[str], existing: dict[str, int]
) -> tuple[dict[str, int], dict[str, int]]:
    """Create missing trace rows for the staged spans' trace ids; return (existing, created) trace_id → row id.

    `existing` is what `_trace_lookup` found. Needs the spans already COPYed into the staging table:
    brand-new traces are created with their derived fields; the ones that existed before (or that a
    concurrent request created first) need `traces_recompute` once the spans are in. (Excluding the
    existing ids by list is cheaper than a NOT EXISTS per staged row.)
    """
    created: dict[str, int] = {}
    if len(existing) < len(tids):
        with bulk.bound_cursor() as cursor:
            cursor.execute(TRACE_CREATE_SQL, {"project": project.pk, "existing": list(existing)})
            created = dict(cursor.fetchall())
            missing = [t for t in tids if t not in existing and t not in created]
            if missing:  # created by a concurrent request after our first look
                cursor.execute(TRACE_IDS_SQL, {"project": project.pk, "tids": missing})
                existing.update(cursor.fetchall())
    return existing, created


def _pending_content_take(*, project: Project, spans: Sequence[NormalizedSpan]) -> None:
    """Merge log-borne content that arrived before these spans, and drop it from the waiting table."""
    keys = {(s.trace_id, s.span_id) for s in spans}
    trace_ids = {tid for tid, _ in keys}
    pending = list(
        PendingSpanContent.objects.filter(project=project, trace_id__in=trace_ids).order_by("received_at", "id")
    )
    pending = [p for p in pending if (p.trace_id, p.span_id) in keys]
    if not pending:
        return
    by_key = {(s.trace_id, s.span_id): s for s in spans}
    for row in pending:
        merge_log_content(
            by_key[(row.trace_id, row.span_id)],
            LogContent(
                trace_id=row.trace_id,
                span_id=row.span_id,
                time=row.received_at,
                input_messages=row.input_messages,
                output_messages=row.output_messages,
                system_instructions=row.system_instructions,
                append=row.append,
            ),
        )
    PendingSpanContent.objects.filter(id__in=[p.id for p in pending]).delete()


def spans_ingest(*, project: Project, spans: Iterable[NormalizedSpan]) -> IngestResult:
    """Store normalized spans once each, complete their traces, and queue one post-ingest job after commit."""
    unique: dict[tuple[str, str], NormalizedSpan] = {}
    for span in spans:
        unique.setdefault((span.trace_id, span.span_id), span)  # a span repeated inside one request
    batch = list(unique.values())
    result = IngestResult(accepted=len(batch))
    if not batch:
        return result
    tids = list(dict.fromkeys(s.trace_id for s in batch))
    bulk.stage_prepare()
    with transaction.atomic():
        # Waiting on a locked trace row or a slow statement must end in a retryable 503, not a hung request.
        with bulk.bound_cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %(lock)s, true), set_config('statement_timeout', %(stmt)s, true)",
                {"lock": f"{settings.INGEST_LOCK_TIMEOUT_MS}ms", "stmt": f"{settings.INGEST_STATEMENT_TIMEOUT_MS}ms"},
            )
        existing, has_pending = _trace_lookup(project=project, tids=tids)
        if has_pending:  # log content that arrived before these spans
            _pending_content_take(project=project, spans=batch)
        bulk.stage_copy(bulk.span_rows(batch))
        existing, created = _trace_rows_ensure(project=project, tids=tids, existing=existing)
        # Spans of brand-new traces are all new; those of existing traces are kept once by ON CONFLICT.
        result.inserted = bulk.spans_insert_from_stage(project_id=project.pk)
        # New traces got their derived fields from the staged spans; existing ones are recomputed from all.
        traces_recompute(trace_pks=sorted(existing.values()))
        touched = sorted([*existing.values(), *created.values()])
        with bulk.bound_cursor() as cursor:
            cursor.execute(
                INGEST_BATCH_INSERT_SQL,
                {"project": project.pk, "touched": touched, "spans": len(batch), "now": timezone.now()},
            )
            batch_id = cursor.fetchone()[0]
        result.batch_id = batch_id
        result.trace_ids = sorted([*existing, *created])
        transaction.on_commit(lambda: ingest_batch_enqueue(batch_id=batch_id))
    return result


INGEST_BATCH_JOB = RowJob(
    model=IngestBatch,
    time_limit=settings.INGEST_BATCH_TIME_LIMIT,
    in_flight=30,  # a sent batch job waits at most this long in the queue before the sweep sends another
    max_attempts=settings.INGEST_BATCH_MAX_ATTEMPTS,
    status="state",
)


def ingest_batch_enqueue(*, batch_id: int) -> bool:
    """Send the batch's job to the broker; a broker outage marks the batch unsent and leaves it to the sweeper."""
    from apps.traces.tasks import ingest_batch_process_task

    if task_enqueue(ingest_batch_process_task, batch_id):
        return True
    job_mark_sent(INGEST_BATCH_JOB, row_ids=[batch_id], sent=False)  # the next sweep sends it at once
    return False


def ingest_batch_process(*, batch_id: int) -> bool:
    """Run post-ingest consumers for a batch once; a second delivery is a no-op. Return whether it ran."""
    return ingest_batch_run(batch_id=batch_id).outcome is Outcome.CLAIMED


def ingest_batch_run(*, batch_id: int) -> Claim:
    """Claim a batch and run its post-ingest consumers; return the claim (BUSY says when to look again).

    A redelivered job takes over a batch whose claim outlived the task's time limit (its worker died);
    a claim still live comes back BUSY with how long to wait. A consumer error hands the batch back
    for the sweep, until INGEST_BATCH_MAX_ATTEMPTS attempts make it failed with the error.
    """
    claim = job_claim(INGEST_BATCH_JOB, row_id=batch_id)
    if claim.outcome is not Outcome.CLAIMED:
        return claim
    batch = IngestBatch.objects.get(id=batch_id)
    try:
        # Higher apps (scores, evaluators) subscribe by dotted path: traces never imports them.
        for path in settings.INGEST_BATCH_CONSUMERS:
            import_string(path)(project_id=batch.project_id, trace_pks=batch.trace_ids)
    except Exception as exc:
        # Hand the batch back (or fail it for good) and re-raise: a soft time limit is never swallowed.
        job_release(INGEST_BATCH_JOB, row_id=batch_id, token=claim.token, error=f"{type(exc).__name__}: {exc}")
        raise
    job_finish(INGEST_BATCH_JOB, row_id=batch_id, token=claim.token, finished_at=timezone.now(), error="")
    return claim


def ingest_batch_sweep(*, limit: int = 500) -> list[int]:
    """Send a job for batches without one in flight: unsent (broker down), handed back, or claimed by a dead worker."""
    return job_sweep(INGEST_BATCH_JOB, send=lambda batch_id: ingest_batch_enqueue(batch_id=batch_id), limit=limit)


def ingest_batch_retry(*, project: Project, batch_id: int) -> bool:
    """Put a failed batch back to pending and send its job; False if it is not a failed batch of the project."""
    if not job_retry(INGEST_BATCH_JOB, row_id=batch_id, project=project):
        return False
    transaction.on_commit(lambda: ingest_batch_enqueue(batch_id=batch_id))
    return True


def ingest_batch_discard(*, project: Project, batch_id: int) -> bool:
    """Give up a failed batch (its spans stay stored; only the post-ingest work is dropped)."""
    failed = IngestBatch.objects.filter(id=batch_id, project=project, state=IngestBatch.State.FAILED)
    return failed.update(state=IngestBatch.State.DISCARDED, finished_at=timezone.now()) == 1


def span_content_attach(*, project: Project, content: LogContent) -> bool:
    """Attach log-borne messages to their span, or keep them until the span arrives. Return True if attached."""
    with transaction.atomic():
        span = (
            Span.objects.select_for_update()
            .filter(project=project, trace__project=project, trace__trace_id=content.trace_id, span_id=content.span_id)
            .first()
        )
        if span is None:
            PendingSpanContent.objects.create(
                project=project,
                trace_id=content.trace_id,
                span_id=content.span_id,
                system_instructions=content.system_instructions,
                input_messages=content.input_messages,
                output_messages=content.output_messages,
                append=content.append,
            )
            return False
        normalized = NormalizedSpan(
            trace_id=content.trace_id,
            span_id=span.span_id,
            kind=span.kind,
            input_messages=span.input_messages,
            output_messages=span.output_messages,
            system_instructions=span.system_instructions,
            input_text=span.input_text,
            output_text=span.output_text,
        )
        merge_log_content(normalized, content)
        for name in ("input_messages", "output_messages", "system_instructions", "input_text", "output_text"):
            setattr(span, name, getattr(normalized, name))
        span.save(
            update_fields=["input_messages", "output_messages", "system_instructions", "input_text", "output_text"]
        )
        traces_recompute(trace_pks=[span.trace_id])
    return True
