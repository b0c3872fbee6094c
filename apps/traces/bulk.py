"""Bulk span writes with COPY: a temp staging table, then one INSERT … SELECT … ON CONFLICT.

The staging table lives as long as the database session, or, behind a transaction-mode pooler
(settings.DATABASE_POOLED), as long as the ingest transaction (ON COMMIT DROP).

Django's `bulk_create` compiles one placeholder per value (≈ 5,600 for 100 spans) and psycopg then
re-parses and binds that text client-side; COPY streams the rows instead, and the derived trace fields
of brand-new traces are computed from the staging table in the statement that creates them.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
import psycopg
from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connection

T = TypeVar("T")
R = TypeVar("R")

STAGE_TABLE = "sightline_span_stage"

# Columns copied from a NormalizedSpan onto a Span row, one name for one concept.
SPAN_FIELDS = (
    "span_id",
    "parent_span_id",
    "is_root",
    "name",
    "kind",
    "operation",
    "started_at",
    "ended_at",
    "latency_ms",
    "status",
    "error_type",
    "error_message",
    "model",
    "model_requested",
    "provider",
    "prompt_name",
    "prompt_version",
    "route",
    "environment",
    "release",
    "user_id",
    "session_id",
    "tags",
    "trace_name",
    "system_instructions",
    "input_messages",
    "output_messages",
    "finish_reasons",
    "tool_definitions",
    "tool_calls",
    "retrieval_query",
    "documents",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_input",
    "cost_output",
    "cost_total",
    "cost_source",
    "request_params",
    "raw_input",
    "raw_output",
    "input_text",
    "output_text",
    "attributes",
    "resource",
    "scope",
    "events",
    "truncated",
    "evaluations",
    "dropped_attributes_count",
)
# jsonb columns of Span: written as JSON text, the same jsonb value JSONField.get_prep_value (json.dumps) yields.
JSON_FIELDS = frozenset(
    {
        "input_messages",
        "output_messages",
        "finish_reasons",
        "tool_definitions",
        "tool_calls",
        "documents",
        "request_params",
        "attributes",
        "resource",
        "scope",
        "events",
        "truncated",
        "evaluations",
    }
)
_COLUMNS = ", ".join(SPAN_FIELDS)


# The staging table has traces_span's staged columns with their types, NOT NULLs and TOAST compression (LIKE …
# INCLUDING COMPRESSION, then the unstaged columns dropped): a COPYed value is compressed once, here, and INSERT …
# SELECT moves the compressed datum into traces_span as it is. A table made by CREATE TABLE AS got the server's
# default_toast_compression (pglz) whatever traces_span's columns say (lz4), and the spans were stored pglz.
# `id`, `project_id`, `trace_id`, `partition_at`, `created_at` are not staged: the trace's row id and partition
# are joined in by its hex id. IF EXISTS keeps the statement a no-op on a table already there.
@functools.cache
def _stage_create_sql(on_commit: str) -> str:
    from apps.traces.models import Span

    unstaged = [f.column for f in Span._meta.concrete_fields if f.column not in SPAN_FIELDS]
    drops = ", ".join(f"DROP COLUMN IF EXISTS {c}" for c in unstaged)
    return (
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGE_TABLE} (trace_hex varchar(32), LIKE traces_span INCLUDING COMPRESSION)"
        f" ON COMMIT {on_commit}; ALTER TABLE {STAGE_TABLE} {drops}"
    )


# Created once per database session (committed on its own when possible); ON COMMIT DELETE ROWS empties it
# at every commit.
def stage_create_sql() -> str:
    return _stage_create_sql("DELETE ROWS")


# Behind a transaction-mode pooler the next transaction may run on another server session, so the table is
# created inside the ingest transaction and dropped at its end; the DELETE empties one left by an earlier
# savepoint of the same transaction (nested callers, tests). One round trip: no parameters, simple protocol.
def stage_create_xact_sql() -> str:
    return _stage_create_sql("DROP") + f"; DELETE FROM {STAGE_TABLE}"


COPY_SQL = f"COPY {STAGE_TABLE} (trace_hex, {_COLUMNS}) FROM STDIN"
# The trace keys (row id, partition_at) come with the statement: the span takes its trace's partition_at, and
# traces_trace is not read again. The conflict target is the unique key (project, trace, span, partition).
SPAN_INSERT_SQL = (
    f"INSERT INTO traces_span (project_id, trace_id, partition_at, created_at, {_COLUMNS}) "
    f"SELECT %(project)s, t.id, t.partition_at, now(), {', '.join('s.' + c for c in SPAN_FIELDS)} "
    f"FROM {STAGE_TABLE} s JOIN unnest(%(tids)s::varchar[], %(ids)s::bigint[], %(parts)s::timestamptz[]) "
    "AS t(hex, id, partition_at) ON t.hex = s.trace_hex "
    "ON CONFLICT (project_id, trace_id, span_id, partition_at) DO NOTHING"
)

# Marks a DB-API connection (one database session) known to hold the committed, empty staging table.
_SESSION_ATTR = "_sightline_span_stage"


_orjson_dumps = orjson.dumps


def _dumps(value: Any) -> str:
    """JSON text for a jsonb column; the empty containers (most of them) skip the encoder.

    orjson writes compact UTF-8 where json.dumps writes `, `/`: ` and \\u escapes: the same jsonb value.
    NaN/Infinity (normalize maps attribute doubles to None already, but JSON-parsed content may hold them)
    become null, where json.dumps would write NaN and PostgreSQL would reject the whole COPY. What orjson
    refuses (integers beyond 64 bits, lone surrogates, non-string keys) goes through json.dumps as before.
    """
    if not value:
        if value == []:
            return "[]"
        if value == {}:
            return "{}"
    try:
        return _orjson_dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)


json_text = _dumps  # the same encoding for other batched jsonb parameters (log content)

_GETTERS = tuple((name, name in JSON_FIELDS) for name in SPAN_FIELDS)


def span_rows(spans: Sequence[Any]) -> list[tuple]:
    """One COPY row per span: (trace hex id, *SPAN_FIELDS), jsonb columns as JSON text."""
    rows = []
    dumps = _dumps
    for span in spans:
        row: list[Any] = [span.trace_id]
        for name, is_json in _GETTERS:
            value = getattr(span, name)
            row.append(dumps(value) if is_json else value)
        rows.append(tuple(row))
    return rows


@contextmanager
def bound_cursor() -> Iterator[psycopg.Cursor]:
    """A server-side-binding psycopg cursor on Django's connection, for the fixed ingest statements.

    Django's default cursor binds client-side (psycopg quotes every parameter into the query text);
    this one sends parameters apart. Statements are prepared only if the database OPTIONS set
    `prepare_threshold` (Django connects with None); DATABASE_POOLED forces None, since a prepared
    statement lives in one server session and a transaction-mode pooler moves the client between them.
    psycopg errors surface as Django's database exceptions, as through connection.cursor().
    """
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = psycopg.Cursor(connection.connection)
        try:
            yield cursor
        finally:
            cursor.close()


def stage_prepare() -> None:
    """Make sure the session's staging table exists and is empty; call it before opening the transaction.

    Behind a pooler (settings.DATABASE_POOLED) it does nothing: stage_copy creates a per-transaction table.

    Outside any transaction (the request path) a missing table is created in autocommit, so it survives the
    ingest transaction rolling back, and the DB-API connection remembers it: every later transaction finds it
    empty (COMMIT empties it, ROLLBACK undoes the COPY). Inside someone else's transaction (tests, nested
    callers) it is created if missing and emptied, since ON COMMIT DELETE ROWS has not run since the last call.
    """
    if settings.DATABASE_POOLED:
        return
    outside = not connection.in_atomic_block and connection.get_autocommit()  # connects if needed
    raw = connection.connection
    if outside and getattr(raw, _SESSION_ATTR, False):
        return
    with connection.cursor() as cursor:
        cursor.execute(stage_create_sql())
        if not outside:
            cursor.execute(f"DELETE FROM {STAGE_TABLE}")
    if outside:
        setattr(raw, _SESSION_ATTR, True)


def stage_copy(rows: Sequence[tuple]) -> None:
    """COPY the rows into the staging table (inside the caller's transaction; behind a pooler it creates it)."""
    with connection.cursor() as cursor, connection.wrap_database_errors:
        if settings.DATABASE_POOLED:
            cursor.execute(stage_create_xact_sql())
        with cursor.cursor.copy(COPY_SQL) as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(row)


def spans_insert_from_stage(*, project_id: int, traces: dict[str, tuple[int, Any]]) -> int:
    """Move the staged spans into traces_span (each stored once); return how many were new.

    `traces` maps each staged trace hex id to its stored row's (id, partition_at).
    """
    tids = list(traces)
    params = {
        "project": project_id,
        "tids": tids,
        "ids": [traces[t][0] for t in tids],
        "parts": [traces[t][1] for t in tids],
    }
    with bound_cursor() as cursor:
        cursor.execute(SPAN_INSERT_SQL, params)
        return cursor.rowcount


# -- data errors: the rows themselves refused, as opposed to the database being unavailable -------------------

# SQLSTATE classes caused by the values sent: 22 data exception (NUL in jsonb, value too long, numeric out of
# range, invalid text representation, untranslatable character), 23 integrity constraint violation.
DATA_SQLSTATE_CLASSES = ("22", "23")
_CONTEXT_COLUMN = re.compile(r"\bcolumn (\w+)")


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc.__cause__, "sqlstate", None) or getattr(exc, "sqlstate", None)


def is_data_error(exc: BaseException) -> bool:
    """Return True when the database refused the data itself: resending the same rows can never succeed."""
    sqlstate = _sqlstate(exc)
    if sqlstate:
        return sqlstate[:2] in DATA_SQLSTATE_CLASSES
    # psycopg refuses some values client-side (a NUL in a text field) without a SQLSTATE.
    return isinstance(exc, (DataError, IntegrityError))


def data_error_message(exc: BaseException) -> str:
    """One line saying what the database refused, with the column when PostgreSQL names it (no row data)."""
    cause = exc.__cause__ or exc
    diag = getattr(cause, "diag", None)
    primary = (getattr(diag, "message_primary", None) or str(cause).split("\n", 1)[0]).strip()
    match = _CONTEXT_COLUMN.search(getattr(diag, "context", None) or "")
    column = getattr(diag, "column_name", None) or (match.group(1) if match else "")
    return f"{column}: {primary}" if column else primary


def store_isolating_data_errors(
    items: Sequence[T], store: Callable[[list[T]], R]
) -> tuple[list[R], list[tuple[T, str]]]:
    """Store items with `store`; where the database refuses the data, split until each bad item is alone.

    The batch is written by one COPY, so one bad value fails every row of it. On a data error the group is
    halved and each half retried (each `store` call is its own transaction or savepoint), so the good items
    are stored and only the refused ones come back, with the database's reason: O(bad * log n) extra writes,
    and none at all when nothing is refused. Any other database error (unreachable, lock or statement
    timeout) propagates: that is the retryable case.
    """
    results: list[R] = []
    rejected: list[tuple[T, str]] = []
    pending = [list(items)] if items else []
    while pending:
        group = pending.pop()
        try:
            results.append(store(group))
        except DatabaseError as exc:
            if not is_data_error(exc):
                raise
            if len(group) == 1:
                rejected.append((group[0], data_error_message(exc)))
                continue
            middle = len(group) // 2
            pending.append(group[middle:])
            pending.append(group[:middle])  # popped first: items are tried in order
    return results, rejected
