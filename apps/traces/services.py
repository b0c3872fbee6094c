"""Writes for traces: storing normalized spans, completing trace rows, post-ingest batches."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.core import partitions
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
from apps.core.prune import rows_delete_in_batches
from apps.core.queue import task_enqueue
from apps.projects.models import Project
from apps.projects.selectors import project_retention_list
from apps.traces import bulk, costs
from apps.traces.bulk import SPAN_FIELDS  # noqa: F401 - re-exported: the Span columns a NormalizedSpan fills
from apps.traces.models import TRACE_PARTITION_WINDOW, IngestBatch, PendingEvaluation, PendingSpanContent
from apps.traces.normalize import LogContent, LogEvaluation, NormalizedSpan, merge_log_content

logger = logging.getLogger(__name__)


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
        bool_or(s.cost_source = 'computed') FILTER (WHERE s.kind IN ('llm', 'embedding')) AS any_computed,
        bool_or(s.cost_source = 'reported') FILTER (WHERE s.kind IN ('llm', 'embedding')) AS any_reported,
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
        s.status, s.error_message, s.started_at, s.ended_at
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

# (column, expression over agg/root/tags). Trace.metadata is not among them: it is the root span's attributes and
# resource, which the span row holds already, so it is read from there (selectors.trace_metadata) rather than
# stored twice (~270 bytes a trace, and reading every span's attributes and resource in each recompute). New rows
# store '{}'; rows written before keep theirs, the same value as derived.
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
    # Any error span makes the trace an error; without one it is ok, whatever the SDK left unset.
    ("status", "CASE WHEN agg.any_error THEN 'error' ELSE 'ok' END"),
    (
        "error",
        "coalesce(CASE WHEN root.is_root AND root.status = 'error' THEN root.error_message END, agg.first_error, '')",
    ),
    ("input_tokens", "agg.input_tokens"),
    ("output_tokens", "agg.output_tokens"),
    ("total_tokens", "agg.total_tokens"),
    ("cost", "agg.cost"),
    # A total with any computed part is marked computed: it is an estimate from tokens and prices.
    (
        "cost_source",
        "CASE WHEN agg.any_computed THEN 'computed' WHEN agg.any_reported THEN 'reported' ELSE '' END",
    ),
)

# One statement recomputes every derived field of the touched traces from all their spans, so the
# result does not depend on the order spans arrive in, and running it twice changes nothing.
# Traces and spans are found by their full key: project, id and partition_at within [lo, hi] (pruning).
_SPANS_OF_TRACES = (
    "s.project_id = %(project)s AND s.trace_id = ANY(%(ids)s::bigint[])"
    " AND s.partition_at >= %(lo)s AND s.partition_at <= %(hi)s"
)
TRACE_RECOMPUTE_SQL = (
    _AGG_CTES.format(key="s.trace_id", table="traces_span s", where=_SPANS_OF_TRACES)
    + "\nUPDATE traces_trace t SET\n"
    + "".join(f"    {col} = {expr.format()},\n" for col, expr in _DERIVED)
    + "    updated_at = now()\nFROM agg\nJOIN root ON root.tid = agg.tid\nLEFT JOIN tags ON tags.tid = agg.tid\n"
    + "WHERE t.project_id = %(project)s AND t.id = agg.tid AND t.partition_at >= %(lo)s AND t.partition_at <= %(hi)s\n"
    + "RETURNING t.route, t.model, t.prompt_version, t.environment\n"
)

# Brand-new traces of one request, created with their derived fields from the staged spans (all the spans
# such a trace has), so they are written once instead of INSERT + recompute UPDATE. A trace that already
# exists (or that a concurrent request creates first) is skipped here and recomputed after the span insert.
TRACE_CREATE_SQL = (
    _AGG_CTES.format(
        key="s.trace_hex", table=f"{bulk.STAGE_TABLE} s", where="s.trace_hex <> ALL(%(existing)s::varchar[])"
    )
    + "\nINSERT INTO traces_trace (project_id, trace_id, partition_at, created_at, updated_at, has_feedback, metadata, "
    + ", ".join(col for col, _ in _DERIVED)
    + ")\nSELECT %(project)s, agg.tid, agg.started_at, now(), now(), false, '{}'::jsonb,\n"
    + ",\n".join("    " + expr.format() for _, expr in _DERIVED)
    + "\nFROM agg\nJOIN root ON root.tid = agg.tid\nLEFT JOIN tags ON tags.tid = agg.tid\n"
    + "ON CONFLICT (project_id, trace_id, partition_at) DO NOTHING\n"
    + "RETURNING trace_id, id, partition_at, route, model, prompt_version, environment\n"
)

# Trace rows for ids known before their spans (scores, evaluations): every NOT NULL column supplied,
# since Django's field defaults are not database defaults.
TRACE_ENSURE_SQL = """
INSERT INTO traces_trace (project_id, trace_id, started_at, partition_at, created_at, updated_at, name, route,
    environment, model, provider, prompt_name, prompt_version, release, user_id, session_id, tags, metadata,
    input_text, output_text, status, error, span_count, root_span_id, has_feedback)
SELECT %(project)s, u.tid, u.started_at, u.started_at, now(), now(), '', '', '', '', '', '', '', '', '', '', '{}',
    '{}'::jsonb, '', '', 'unset', '', 0, '', false
FROM unnest(%(tids)s::varchar[], %(started)s::timestamptz[]) AS u(tid, started_at)
ON CONFLICT (project_id, trace_id, partition_at) DO NOTHING
"""
# Any stored row of these trace ids, in any partition (one unique-index probe per partition).
TRACE_IDS_SQL = "SELECT trace_id, id FROM traces_trace WHERE project_id = %(project)s AND trace_id = ANY(%(tids)s)"
# The stored rows of these trace ids whose partition_at lies within TRACE_PARTITION_WINDOW of each trace's earliest
# span in this request (`lo`/`hi` per trace; `batch_lo`/`batch_hi` bound them all, so only 1-2 partitions are read).
_TRACE_WINDOW_SQL = (
    "SELECT t.trace_id, t.id, t.partition_at FROM traces_trace t\n"
    "JOIN unnest(%(tids)s::varchar[], %(los)s::timestamptz[], %(his)s::timestamptz[]) AS k(tid, lo, hi)\n"
    "    ON t.trace_id = k.tid AND t.partition_at >= k.lo AND t.partition_at <= k.hi\n"
    "WHERE t.project_id = %(project)s AND t.trace_id = ANY(%(tids)s::varchar[])\n"
    "    AND t.partition_at >= %(batch_lo)s AND t.partition_at <= %(batch_hi)s"
)
# _TRACE_WINDOW_SQL plus a flag row ('', 0) when log content waits for spans of these traces: one round trip.
TRACE_LOOKUP_SQL = (
    _TRACE_WINDOW_SQL + "\nUNION ALL\n"
    "SELECT '', 0, NULL WHERE EXISTS (SELECT 1 FROM traces_pendingspancontent\n"
    "    WHERE project_id = %(project)s AND trace_id = ANY(%(tids)s::varchar[]))"
)
# IngestBatch.objects.create(...) without the ORM: every NOT NULL column, the model's defaults.
# In the same statement (one round trip), the values the touched traces' slicing dimensions now have join the
# filter choices (traces_tracedimensionvalue). The values come with the statement (the trace create and recompute
# statements return them), so the traces just written are not read again. DO NOTHING takes no lock on a value
# already there, so concurrent requests never queue on the popular ones; sorted, two requests insert in one order.
INGEST_BATCH_INSERT_SQL = (
    "WITH dims AS (INSERT INTO traces_tracedimensionvalue (project_id, dimension, value)\n"
    "    SELECT %(project)s, d.dimension, d.value FROM unnest(%(dims)s::varchar[], %(values)s::varchar[])\n"
    "        AS d(dimension, value) ORDER BY 2, 3\n"
    "    ON CONFLICT (project_id, dimension, value) DO NOTHING)\n"
    "INSERT INTO traces_ingestbatch (project_id, trace_ids, span_count, state, attempts, created_at) "
    f"VALUES (%(project)s, %(touched)s::bigint[], %(spans)s, '{IngestBatch.State.PENDING.value}', 0, %(now)s) "
    "RETURNING id"
)
# The slicing dimensions of a trace, in the order the statements above return them.
TRACE_DIMENSIONS = ("route", "model", "prompt_version", "environment")


def _dimension_values(rows: Iterable[Sequence[str]]) -> list[tuple[str, str]]:
    """The distinct non-empty (dimension, value) pairs of trace rows (route, model, prompt_version, environment)."""
    return sorted({(d, v) for row in rows for d, v in zip(TRACE_DIMENSIONS, row, strict=True) if v})


# What log content can change on a trace: only its input/output text (the content fields of a span feed no other
# derived field). The same choice as TRACE_RECOMPUTE_SQL's input_text/output_text (the root's text, else the first
# LLM input and the last LLM output), for these traces only, and a trace row is rewritten only when its text changes.
TRACE_TEXT_RECOMPUTE_SQL = """
UPDATE traces_trace t SET input_text = x.input_text, output_text = x.output_text, updated_at = now()
FROM (
    SELECT r.tid,
        coalesce(nullif(r.input_text, ''), (SELECT s.input_text FROM traces_span s
            WHERE s.project_id = %(project)s AND s.trace_id = r.tid AND s.kind = 'llm' AND s.input_text <> ''
            ORDER BY s.started_at LIMIT 1), '') AS input_text,
        coalesce(nullif(r.output_text, ''), (SELECT s.output_text FROM traces_span s
            WHERE s.project_id = %(project)s AND s.trace_id = r.tid AND s.kind = 'llm' AND s.output_text <> ''
            ORDER BY s.ended_at DESC LIMIT 1), '') AS output_text
    FROM (SELECT DISTINCT ON (s.trace_id) s.trace_id AS tid, s.input_text, s.output_text FROM traces_span s
          WHERE s.project_id = %(project)s AND s.trace_id = ANY(%(ids)s::bigint[])
          ORDER BY s.trace_id, s.is_root DESC, s.started_at, s.span_id) r
) x
WHERE t.project_id = %(project)s AND t.id = ANY(%(ids)s::bigint[]) AND t.id = x.tid
  AND (t.input_text <> x.input_text OR t.output_text <> x.output_text)
"""


# The (project, partition_at) of trace rows known only by id (callers outside the ingest path).
TRACE_KEYS_SQL = "SELECT id, project_id, partition_at FROM traces_trace WHERE id = ANY(%(ids)s::bigint[])"

# A stored trace as the write path addresses it: row id and partition_at (with project_id, its full key).
TraceKey = tuple[int, datetime]


def traces_recompute(
    *, trace_pks: Sequence[int], project_id: int | None = None, keys: Sequence[TraceKey] | None = None
) -> list[tuple[str, str, str, str]]:
    """Recompute the derived fields of these traces from all their stored spans.

    The ingest path passes the traces' keys (row id, partition_at) and project, and gets back each trace's slicing
    dimensions as now stored (TRACE_DIMENSIONS); with row ids alone they are looked up (and nothing is returned).
    """
    if not trace_pks:
        return []
    if keys is None or project_id is None:
        with connection.cursor() as cursor:
            cursor.execute(TRACE_KEYS_SQL, {"ids": list(trace_pks)})
            by_project: dict[int, list[TraceKey]] = {}
            for pk, pid, part in cursor.fetchall():
                by_project.setdefault(pid, []).append((pk, part))
        for pid, project_keys in by_project.items():
            traces_recompute(trace_pks=[k[0] for k in project_keys], project_id=pid, keys=project_keys)
        return []
    parts = [k[1] for k in keys]
    with connection.cursor() as cursor:
        cursor.execute(
            TRACE_RECOMPUTE_SQL,
            {"project": project_id, "ids": list(trace_pks), "lo": min(parts), "hi": max(parts)},
        )
        return cursor.fetchall()


def traces_ensure(*, project: Project, started: dict[str, datetime]) -> dict[str, int]:
    """Create missing trace rows (trace_id → first known time); return trace_id → row id.

    The trace ids are locked first (as span ingest does), so a trace row is never created twice; an existing row
    is found in any partition.
    """
    if not started:
        return {}
    tids = list(started)
    with transaction.atomic(savepoint=False):
        _traces_lock(project=project, tids=tids)
        with connection.cursor() as cursor:
            cursor.execute(TRACE_IDS_SQL, {"project": project.pk, "tids": tids})
            found = dict(cursor.fetchall())
            missing = [t for t in tids if t not in found]
            if missing:
                cursor.execute(
                    TRACE_ENSURE_SQL, {"project": project.pk, "tids": missing, "started": [started[t] for t in missing]}
                )
                cursor.execute(TRACE_IDS_SQL, {"project": project.pk, "tids": missing})
                found.update(cursor.fetchall())
    return found


def _trace_windows(spans: Sequence[NormalizedSpan]) -> dict[str, tuple[datetime, datetime]]:
    """Per trace id of the request: the partition_at range an already stored row of it may have."""
    earliest: dict[str, datetime] = {}
    for span in spans:
        current = earliest.get(span.trace_id)
        if current is None or span.started_at < current:
            earliest[span.trace_id] = span.started_at
    return {t: (e - TRACE_PARTITION_WINDOW, e + TRACE_PARTITION_WINDOW) for t, e in earliest.items()}


def _window_params(project: Project, tids: list[str], windows: dict[str, tuple[datetime, datetime]]) -> dict:
    los = [windows[t][0] for t in tids]
    his = [windows[t][1] for t in tids]
    return {"project": project.pk, "tids": tids, "los": los, "his": his, "batch_lo": min(los), "batch_hi": max(his)}


def _trace_lookup(
    *, project: Project, tids: list[str], windows: dict[str, tuple[datetime, datetime]]
) -> tuple[dict[str, TraceKey], bool]:
    """One round trip: the request's traces that exist already (trace_id → key), and whether any log
    content waits for spans of these traces (a row with trace_id '' flags it; real ids are 32 hex digits)."""
    with bulk.bound_cursor() as cursor:
        cursor.execute(TRACE_LOOKUP_SQL, _window_params(project, tids, windows))
        existing = {tid: (pk, part) for tid, pk, part in cursor.fetchall()}
    has_pending = existing.pop("", None) is not None
    return existing, has_pending


def _trace_rows_ensure(
    *, project: Project, tids: list[str], existing: dict[str, TraceKey], windows: dict[str, tuple[datetime, datetime]]
) -> tuple[dict[str, TraceKey], dict[str, TraceKey], list[tuple[str, str, str, str]]]:
    """Create missing trace rows for the staged spans' trace ids; return (existing, created) trace_id → key, and
    the created traces' slicing dimensions (TRACE_DIMENSIONS).

    `existing` is what `_trace_lookup` found. Needs the spans already COPYed into the staging table:
    brand-new traces are created with their derived fields; the ones that existed before (or that a
    concurrent request created first) need `traces_recompute` once the spans are in. (Excluding the
    existing ids by list is cheaper than a NOT EXISTS per staged row.)
    """
    created: dict[str, TraceKey] = {}
    dims: list[tuple[str, str, str, str]] = []
    if len(existing) < len(tids):
        with bulk.bound_cursor() as cursor:
            cursor.execute(TRACE_CREATE_SQL, {"project": project.pk, "existing": list(existing)})
            for tid, pk, part, *values in cursor.fetchall():
                created[tid] = (pk, part)
                dims.append(tuple(values))
            missing = [t for t in tids if t not in existing and t not in created]
            if missing:  # a row with the same partition_at already there (the trace locks make this rare)
                cursor.execute(_TRACE_WINDOW_SQL, _window_params(project, missing, windows))
                existing.update((tid, (pk, part)) for tid, pk, part in cursor.fetchall())
    return existing, created, dims


# Take (delete and return) the waiting content of exactly these spans, in one statement.
PENDING_CONTENT_TAKE_SQL = """
DELETE FROM traces_pendingspancontent p
USING unnest(%(tids)s::varchar[], %(sids)s::varchar[]) AS k(trace_id, span_id)
WHERE p.project_id = %(project)s AND p.trace_id = k.trace_id AND p.span_id = k.span_id
RETURNING p.id, p.trace_id, p.span_id, p.received_at, p.input_messages, p.output_messages, p.system_instructions,
    p.append
"""
PENDING_CONTENT_COPY_SQL = (
    "COPY traces_pendingspancontent (project_id, trace_id, span_id, system_instructions, input_messages, "
    "output_messages, append, received_at) FROM STDIN"
)


def _pending_content_take(*, project: Project, spans: Sequence[NormalizedSpan]) -> None:
    """Merge log-borne content that arrived before these spans (in arrival order), and drop it from the waiting table."""
    by_key = {(s.trace_id, s.span_id): s for s in spans}
    with bulk.bound_cursor() as cursor:
        cursor.execute(
            PENDING_CONTENT_TAKE_SQL,
            {"project": project.pk, "tids": [k[0] for k in by_key], "sids": [k[1] for k in by_key]},
        )
        taken = cursor.fetchall()
    taken.sort(key=lambda row: (row[3], row[0]))  # received_at, id: the order the records came in
    for _, tid, sid, received_at, inputs, outputs, system, append in taken:
        merge_log_content(
            by_key[(tid, sid)],
            LogContent(
                trace_id=tid,
                span_id=sid,
                time=received_at,
                input_messages=_json(inputs),
                output_messages=_json(outputs),
                system_instructions=system,
                append=append,
            ),
        )


def _pending_content_store(*, project: Project, contents: Sequence[LogContent]) -> None:
    """COPY content whose span has not arrived into the waiting table."""
    now = timezone.now()
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(PENDING_CONTENT_COPY_SQL) as copy:
            for c in contents:
                copy.write_row(
                    (
                        project.pk,
                        c.trace_id,
                        c.span_id,
                        c.system_instructions,
                        bulk.json_text(c.input_messages),
                        bulk.json_text(c.output_messages),
                        c.append,
                        now,
                    )
                )


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
    windows = _trace_windows(batch)
    costs.spans_price(project_id=project.pk, spans=batch)  # cost from tokens where the SDK reported none
    bulk.stage_prepare()
    with transaction.atomic():
        # Waiting on a locked trace row or a slow statement must end in a retryable 503, not a hung request.
        _ingest_timeouts()
        # Before looking for content that waits for these spans, and for the trace rows: two requests with spans
        # of one new trace are serialized here, so the second finds the first's row (never a duplicate trace).
        _traces_lock(project=project, tids=tids)
        existing, has_pending = _trace_lookup(project=project, tids=tids, windows=windows)
        if has_pending:  # log content that arrived before these spans
            _pending_content_take(project=project, spans=batch)
        bulk.stage_copy(bulk.span_rows(batch))
        existing, created, dims = _trace_rows_ensure(project=project, tids=tids, existing=existing, windows=windows)
        # Spans of brand-new traces are all new; those of existing traces are kept once by ON CONFLICT.
        result.inserted = bulk.spans_insert_from_stage(project_id=project.pk, traces={**existing, **created})
        # New traces got their derived fields from the staged spans; existing ones are recomputed from all.
        if existing:
            keys = sorted(existing.values())
            dims += traces_recompute(trace_pks=[k[0] for k in keys], project_id=project.pk, keys=keys)
        touched = sorted([k[0] for k in (*existing.values(), *created.values())])
        values = _dimension_values(dims)
        with bulk.bound_cursor() as cursor:
            cursor.execute(
                INGEST_BATCH_INSERT_SQL,
                {
                    "project": project.pk,
                    "touched": touched,
                    "spans": len(batch),
                    "now": timezone.now(),
                    "dims": [d for d, _ in values],
                    "values": [v for _, v in values],
                },
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
    return span_contents_attach(project=project, contents=[content]) == 1


# The spans a batch of log content names, locked (in id order, so two batches cannot deadlock) while merged.
CONTENT_SPANS_SQL = """
SELECT s.id, s.trace_id, t.trace_id, s.span_id, s.kind, s.input_messages, s.output_messages, s.system_instructions,
       s.input_text, s.output_text, s.finish_reasons, s.tool_calls
FROM traces_span s
JOIN traces_trace t ON s.project_id = t.project_id AND s.trace_id = t.id AND s.partition_at = t.partition_at
WHERE t.project_id = %(project)s AND t.trace_id = ANY(%(tids)s::varchar[]) AND s.span_id = ANY(%(sids)s::varchar[])
ORDER BY s.id
FOR UPDATE OF s
"""
# Every merged span written by one statement: the rows travel as one JSON array of arrays.
CONTENT_UPDATE_SQL = """
UPDATE traces_span s SET input_messages = e -> 1, output_messages = e -> 2, system_instructions = e ->> 3,
    input_text = e ->> 4, output_text = e ->> 5, finish_reasons = e -> 6, tool_calls = e -> 7
FROM jsonb_array_elements(%(rows)s::jsonb) AS e
WHERE s.project_id = %(project)s AND s.id = (e ->> 0)::bigint
"""
_CONTENT_FIELDS = (
    "input_messages",
    "output_messages",
    "system_instructions",
    "input_text",
    "output_text",
    "finish_reasons",
    "tool_calls",
)


def _json(value: Any) -> Any:
    """A jsonb column as Python (Django's psycopg setup may hand jsonb back as text)."""
    return json.loads(value) if isinstance(value, str) else value


def span_contents_attach(
    *, project: Project, contents: Sequence[LogContent], ingest_timeouts: bool = False, more_tids: Sequence[str] = ()
) -> int:
    """Attach a batch of log-borne content to its spans, keeping the rest until the span arrives.

    One locking SELECT, one UPDATE of every merged span and one update of their traces' text per batch, instead
    of a lock, an UPDATE and a full recompute per record. Content is merged in arrival order, as record by record.
    Return how many records found their span. With `ingest_timeouts`, the transaction's ingest timeouts are set
    in the same round trip as the locks and the read.
    """
    if not contents:
        return 0
    tids = sorted({c.trace_id for c in contents})
    # `more_tids`: other trace ids the caller's transaction writes, locked in the same sorted pass (no deadlock).
    lock_tids = sorted({*tids, *more_tids})
    with transaction.atomic(savepoint=False):  # inside log_events_ingest: no SAVEPOINT/RELEASE round trips
        # One round trip (a pipeline): the timeouts, the per-trace locks, then the locked read. The server runs
        # them in order, so the read's snapshot is taken once the locks are granted and sees any span insert
        # it waited for.
        with connection.wrap_database_errors, connection.connection.pipeline(), bulk.bound_cursor() as cursor:
            if ingest_timeouts:
                _ingest_timeouts()
            _traces_lock(project=project, tids=lock_tids)
            cursor.execute(
                CONTENT_SPANS_SQL,
                {"project": project.pk, "tids": tids, "sids": sorted({c.span_id for c in contents})},
            )
            found = cursor.fetchall()
        spans: dict[tuple[str, str], tuple[int, int, NormalizedSpan]] = {}
        for span_pk, trace_pk, tid, sid, kind, inputs, outputs, system, in_text, out_text, reasons, calls in found:
            spans[(tid, sid)] = (
                span_pk,
                trace_pk,
                NormalizedSpan(
                    trace_id=tid,
                    span_id=sid,
                    kind=kind,
                    input_messages=_json(inputs),
                    output_messages=_json(outputs),
                    system_instructions=system,
                    input_text=in_text,
                    output_text=out_text,
                    finish_reasons=_json(reasons),
                    tool_calls=_json(calls),
                ),
            )
        waiting: list[LogContent] = []
        merged: dict[int, tuple[int, NormalizedSpan]] = {}
        for content in contents:
            hit = spans.get((content.trace_id, content.span_id))
            if hit is None:
                waiting.append(content)
                continue
            span_pk, trace_pk, normalized = hit
            merge_log_content(normalized, content)
            merged[span_pk] = (trace_pk, normalized)
        if waiting:
            _pending_content_store(project=project, contents=waiting)
        if merged:
            rows = [[pk, *(getattr(n, name) for name in _CONTENT_FIELDS)] for pk, (_, n) in merged.items()]
            touched = sorted({trace_pk for trace_pk, _ in merged.values()})
            # One round trip: the spans, then their traces' text (only where it changes).
            with connection.wrap_database_errors, connection.connection.pipeline(), bulk.bound_cursor() as cursor:
                cursor.execute(CONTENT_UPDATE_SQL, {"project": project.pk, "rows": bulk.json_text(rows)})
                cursor.execute(TRACE_TEXT_RECOMPUTE_SQL, {"project": project.pk, "ids": touched})
    return len(contents) - len(waiting)


# Per-trace transaction locks, taken in one order (deadlock-free) by span ingest and by log content: content
# that finds no span and a concurrent insert of that span cannot both miss each other's uncommitted rows (the
# content would wait forever). The second one waits for the first to commit, then sees its rows.
TRACES_LOCK_SQL = """
SELECT pg_advisory_xact_lock(%(project)s, k.h)
FROM (SELECT DISTINCT hashtext(t) AS h FROM unnest(%(tids)s::text[]) AS t ORDER BY 1) AS k
"""


def _traces_lock(*, project: Project, tids: Sequence[str]) -> None:
    """Hold this project's trace ids until the transaction ends (see TRACES_LOCK_SQL)."""
    with bulk.bound_cursor() as cursor:
        cursor.execute(TRACES_LOCK_SQL, {"project": project.pk, "tids": list(tids)})


def _ingest_timeouts() -> None:
    """Bound lock waits and statements of the current ingest transaction (a retryable 503, not a hung request).

    In the same round trip, the GIN pending list (fastupdate) of the trigram indexes is capped at
    INGEST_GIN_PENDING_LIST_KB for this transaction: the insert that overflows it merges the list into the index,
    and with the 4 MB default that merge (~30 batches' worth of trigrams) landed on one random request (the p99).
    """
    with bulk.bound_cursor() as cursor:
        cursor.execute(
            "SELECT set_config('lock_timeout', %(lock)s, true), set_config('statement_timeout', %(stmt)s, true), "
            "set_config('gin_pending_list_limit', %(gin)s, true)",
            {
                "lock": f"{settings.INGEST_LOCK_TIMEOUT_MS}ms",
                "stmt": f"{settings.INGEST_STATEMENT_TIMEOUT_MS}ms",
                "gin": f"{settings.INGEST_GIN_PENDING_LIST_KB}kB",
            },
        )


def log_events_ingest(*, project: Project, events: Sequence[LogContent | LogEvaluation]) -> None:
    """Store GenAI log events in one transaction: content goes to its span, evaluation results to the
    evaluation consumers (scores, by dotted path: traces never imports it), or wait for their response id."""
    contents = [e for e in events if isinstance(e, LogContent)]
    evaluations = [e for e in events if isinstance(e, LogEvaluation)]
    if not contents and not evaluations:
        return
    with transaction.atomic():
        named = sorted({e.trace_id for e in evaluations if e.trace_id} - {c.trace_id for c in contents})
        if contents:
            span_contents_attach(project=project, contents=contents, ingest_timeouts=True, more_tids=named)
        else:
            _ingest_timeouts()
            if named:
                _traces_lock(project=project, tids=named)
        if evaluations:
            resolved, waiting = _evaluations_resolve(project=project, evaluations=evaluations)
            now = timezone.now()
            PendingEvaluation.objects.bulk_create(
                [
                    PendingEvaluation(
                        project=project,
                        response_id=e.response_id[:200],
                        name=e.name[:100],
                        score=e.score,
                        label=e.label[:100],
                        explanation=e.explanation,
                        received_at=now,
                    )
                    for e in waiting
                ]
            )
            _evaluations_hand_over(project=project, evaluations=resolved)


def _evaluations_hand_over(*, project: Project, evaluations: Sequence[LogEvaluation]) -> None:
    """Give evaluations that name a real trace to the subscribed consumers (scores stores them)."""
    if evaluations:
        for path in settings.LOG_EVALUATION_CONSUMERS:
            import_string(path)(project=project, evaluations=list(evaluations))


# The span each response id names (gen_ai.response.id is kept in the span's attributes; an index serves this).
RESPONSE_SPANS_SQL = """
SELECT DISTINCT ON (s.attributes ->> 'gen_ai.response.id') s.attributes ->> 'gen_ai.response.id', t.trace_id, s.span_id
FROM traces_span s
JOIN traces_trace t ON t.project_id = s.project_id AND t.id = s.trace_id AND t.partition_at = s.partition_at
WHERE s.project_id = %(project)s AND s.attributes ? 'gen_ai.response.id'
  AND (s.attributes ->> 'gen_ai.response.id') = ANY(%(rids)s::text[])
ORDER BY s.attributes ->> 'gen_ai.response.id', s.started_at, s.id
"""


def spans_by_response_id(*, project_id: int, response_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Map gen_ai.response.id → (trace id, span id) of the project's span that produced that response."""
    rids = sorted(set(response_ids))
    if not rids:
        return {}
    with bulk.bound_cursor() as cursor:
        cursor.execute(RESPONSE_SPANS_SQL, {"project": project_id, "rids": rids})
        return {rid: (tid, sid) for rid, tid, sid in cursor.fetchall()}


def _evaluations_resolve(
    *, project: Project, evaluations: Sequence[LogEvaluation]
) -> tuple[list[LogEvaluation], list[LogEvaluation]]:
    """Split evaluations into those with a trace id (filled from the response id's span) and those still waiting."""
    bare = [e for e in evaluations if not e.trace_id]
    spans = spans_by_response_id(project_id=project.pk, response_ids=(e.response_id for e in bare))
    resolved = [e for e in evaluations if e.trace_id]
    waiting = []
    for e in bare:
        if e.response_id in spans:
            tid, sid = spans[e.response_id]
            resolved.append(replace(e, trace_id=tid, span_id=sid))
        else:
            waiting.append(e)
    return resolved, waiting


def pending_evaluations_resolve(*, project_id: int, trace_pks: Sequence[int] = ()) -> int:
    """Hand over waiting evaluations whose response's span has arrived; return how many were resolved.

    Runs after each ingest batch (an INGEST_BATCH_CONSUMERS entry) and from the sweeper; a project with
    nothing waiting costs one indexed EXISTS.
    """
    waiting = PendingEvaluation.objects.filter(project_id=project_id, state=PendingEvaluation.State.PENDING)
    if not waiting.exists():
        return 0
    with transaction.atomic():
        rows = list(waiting.select_for_update(skip_locked=True).order_by("id"))
        spans = spans_by_response_id(project_id=project_id, response_ids=(r.response_id for r in rows))
        done = [r for r in rows if r.response_id in spans]
        if not done:
            return 0
        _evaluations_hand_over(
            project=Project.objects.get(id=project_id),
            evaluations=[
                LogEvaluation(
                    trace_id=spans[r.response_id][0],
                    span_id=spans[r.response_id][1],
                    name=r.name,
                    score=r.score,
                    label=r.label,
                    explanation=r.explanation,
                    response_id=r.response_id,
                )
                for r in done
            ],
        )
        PendingEvaluation.objects.filter(id__in=[r.id for r in done]).delete()
    return len(done)


def pending_evaluations_sweep(*, now: datetime | None = None) -> tuple[int, int]:
    """Resolve waiting evaluations of every project, then reject those past the grace period; return both counts."""
    now = now or timezone.now()
    project_ids = (
        PendingEvaluation.objects.filter(state=PendingEvaluation.State.PENDING)
        .values_list("project_id", flat=True)
        .distinct()
    )
    resolved = sum(pending_evaluations_resolve(project_id=pid) for pid in list(project_ids))
    grace = settings.INGEST_EVALUATION_GRACE_SECONDS
    expired = PendingEvaluation.objects.filter(
        state=PendingEvaluation.State.PENDING, received_at__lt=now - timedelta(seconds=grace)
    )
    rejected = 0
    for row in expired.order_by("id")[:1000]:
        reason = f"no span with gen_ai.response.id {row.response_id!r} arrived within {grace} s"
        # Conditional: a concurrent resolve may have taken the row meanwhile.
        if PendingEvaluation.objects.filter(id=row.id, state=PendingEvaluation.State.PENDING).update(
            state=PendingEvaluation.State.REJECTED, reason=reason, rejected_at=now
        ):
            rejected += 1
            logger.warning("evaluation %r of project %s rejected: %s", row.name, row.project_id, reason)
    return resolved, rejected


# -- pruning bookkeeping rows (the hourly traces.bookkeeping_prune job) ----------------------------------------


def ingest_batches_prune(*, now: datetime | None = None, budget_seconds: float = 60.0) -> int:
    """Delete done and discarded ingest batches older than BOOKKEEPING_RETENTION_DAYS; failed ones stay."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.BOOKKEEPING_RETENTION_DAYS)
    finished = IngestBatch.objects.filter(
        state__in=[IngestBatch.State.DONE, IngestBatch.State.DISCARDED], created_at__lt=cutoff
    )
    return rows_delete_in_batches(finished, budget_seconds=budget_seconds)


def pending_contents_prune(*, now: datetime | None = None, budget_seconds: float = 60.0) -> int:
    """Delete log content whose span has not arrived within INGEST_PENDING_CONTENT_GRACE_SECONDS."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.INGEST_PENDING_CONTENT_GRACE_SECONDS)
    return rows_delete_in_batches(
        PendingSpanContent.objects.filter(received_at__lt=cutoff), budget_seconds=budget_seconds
    )


def pending_evaluations_prune(*, now: datetime | None = None, budget_seconds: float = 60.0) -> int:
    """Delete evaluation events rejected more than BOOKKEEPING_RETENTION_DAYS ago (resolved ones are already gone)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.BOOKKEEPING_RETENTION_DAYS)
    rejected = PendingEvaluation.objects.filter(state=PendingEvaluation.State.REJECTED, rejected_at__lt=cutoff)
    return rows_delete_in_batches(rejected, budget_seconds=budget_seconds)


def traces_feedback_mark(*, project_id: int, trace_pks: Sequence[int]) -> int:
    """Set has_feedback on these traces of the project (the feedback app calls this when feedback links)."""
    if not trace_pks:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE traces_trace SET has_feedback = true, updated_at = now() "
            "WHERE project_id = %s AND id = ANY(%s::bigint[]) AND NOT has_feedback",
            [project_id, "{" + ",".join(str(int(pk)) for pk in set(trace_pks)) + "}"],
        )
        return cursor.rowcount


# -- retention (the hourly traces.data_lifecycle job) --------------------------------------------------------------


def traces_expire(*, now: datetime | None = None) -> dict[str, partitions.Expiry]:
    """Apply each project's trace retention to spans, then traces: whole day partitions dropped, the rest deleted."""
    cutoffs = {
        pid: partitions.retention_cutoff(days=r.traces_days, now=now) for pid, r in project_retention_list().items()
    }
    # Spans first: a trace never goes while spans of it remain (they share partition_at, so the same cutoff).
    return {table: partitions.table_expire(table, cutoffs=cutoffs) for table in ("traces_span", "traces_trace")}
