"""Session summaries: one row per (project, session) with its figures, recomputed from its rows when marked dirty.

1. Writers append (project, session) keys to `SessionDirty`: statement triggers on traces_trace for inserted,
   deleted and updated traces (only where a column the summary reads changed; migration 0008), and the score
   writers (scores_upsert, scores_supersede) for the traces they scored, through DIRTY_MARK_SQL.
2. The beat job (`session_summaries_drain_task`, every 15 s) takes a bounded set of keys under one advisory
   lock, deletes them and, in the same transaction, recomputes each session from all its traces and their
   failing scores with `INSERT … SELECT … ON CONFLICT DO UPDATE`; a session with no trace left loses its row.
   A re-run, a duplicate key or a late trace only ever causes another exact recompute: never an increment.
   Keys written after the take stay for the next run (the take deletes only the rows it locked).
3. Retention (`session_summaries_expire`, a RETENTION_EXPIRERS step): dropped partitions fire no trigger, so
   sessions whose traces are all past the project's cutoff lose their rows here, and sessions straddling the
   cutoff are marked dirty to be recomputed from what is left.

Semantics (what tests/scores/test_session_summaries.py compares against a direct aggregation): over every
stored trace with that session id: trace count, first start, last end (start where no end), distinct non-empty
users (sorted), traces with status error, traces with feedback, and per trace its distinct failing score names
(passed is false), summed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction

from apps.core import partitions
from apps.core.jobs import advisory_xact_lock
from apps.projects.selectors import project_retention_list
from apps.traces.models import TRACE_PARTITION_WINDOW

# pg_advisory lock key of the session recompute: any constant no other code uses.
SESSION_LOCK_KEY = 0x5E551095

# The columns of traces_trace the summary reads: an update that changes none of them marks nothing.
SESSION_COLUMNS = ("project_id", "session_id", "user_id", "started_at", "ended_at", "status", "has_feedback")

# Mark the sessions of these traces dirty (the score writers: a score's verdict counts in its session).
# One probe per trace by row id, the project checked on the row found (as rollups.DIRTY_MARK_SQL, which says why).
DIRTY_MARK_SQL = """
INSERT INTO scores_sessiondirty (project_id, session_id)
SELECT DISTINCT t.project_id, t.session_id
FROM unnest(%(ids)s::bigint[]) AS k(id) CROSS JOIN LATERAL (
    SELECT t.project_id, t.session_id FROM traces_trace t WHERE t.id = k.id
    OFFSET 0  -- a fence: the project test below stays outside, off the index choice
) AS t
WHERE t.project_id = %(project)s AND t.session_id <> ''
"""

DIRTY_TAKE_SQL = """
DELETE FROM scores_sessiondirty WHERE id IN (
    SELECT id FROM scores_sessiondirty ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
) RETURNING project_id, session_id
"""

_VALUE_COLS = ("trace_count", "first_at", "last_at", "users", "error_count", "failing_score_count", "feedback_count")

# Recompute the sessions named by the parallel arrays (project, session) from all their traces: upsert the fresh
# rows (skipping unchanged ones), delete the rows of sessions with no trace left. Also the migration's backfill,
# with `keys` replaced by every session of traces_trace.
_RECOMPUTE_BODY = f"""
, tr AS (
    SELECT t.project_id, t.session_id, t.id, t.partition_at, t.started_at, t.ended_at, t.user_id, t.status,
           t.has_feedback
    FROM keys k JOIN traces_trace t ON t.project_id = k.project_id AND t.session_id = k.session_id
), failing AS (
    SELECT tr.project_id, tr.session_id, count(DISTINCT (s.trace_id, s.name)) AS n
    FROM tr JOIN scores_score s
      ON s.project_id = tr.project_id AND s.trace_id = tr.id AND s.partition_at = tr.partition_at
    WHERE s.passed = false
    GROUP BY 1, 2
), fresh AS (
    SELECT tr.project_id, tr.session_id, count(*) AS trace_count, min(tr.started_at) AS first_at,
           max(coalesce(tr.ended_at, tr.started_at)) AS last_at,
           coalesce(array_agg(DISTINCT tr.user_id ORDER BY tr.user_id) FILTER (WHERE tr.user_id <> ''),
                    '{{}}')::varchar(200)[] AS users,
           count(*) FILTER (WHERE tr.status = 'error') AS error_count,
           count(*) FILTER (WHERE tr.has_feedback) AS feedback_count
    FROM tr GROUP BY 1, 2
), up AS (
    INSERT INTO scores_sessionsummary (project_id, session_id, {", ".join(_VALUE_COLS)})
    SELECT f.project_id, f.session_id, f.trace_count, f.first_at, f.last_at, f.users, f.error_count,
           coalesce(x.n, 0), f.feedback_count
    FROM fresh f LEFT JOIN failing x ON x.project_id = f.project_id AND x.session_id = f.session_id
    ON CONFLICT (project_id, session_id) DO UPDATE SET
        {", ".join(f"{c} = EXCLUDED.{c}" for c in _VALUE_COLS)}
    WHERE ({", ".join("scores_sessionsummary." + c for c in _VALUE_COLS)})
        IS DISTINCT FROM ({", ".join("EXCLUDED." + c for c in _VALUE_COLS)})
    RETURNING 1
)
DELETE FROM scores_sessionsummary s USING keys k
WHERE s.project_id = k.project_id AND s.session_id = k.session_id
  AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.project_id = k.project_id AND f.session_id = k.session_id)
"""

RECOMPUTE_SQL = (
    """
WITH keys AS (
    SELECT DISTINCT project_id, session_id
    FROM unnest(%(projects)s::bigint[], %(sessions)s::varchar[]) AS k(project_id, session_id)
)"""
    + _RECOMPUTE_BODY
)

# The migration's backfill: every session of every project.
BACKFILL_SQL = (
    """
WITH keys AS (SELECT DISTINCT project_id, session_id FROM traces_trace WHERE session_id <> '')"""
    + _RECOMPUTE_BODY
)
# A rebuild of one project: every session it has a trace of, or a summary of.
REBUILD_SQL = (
    """
WITH keys AS (
    SELECT project_id, session_id FROM traces_trace WHERE project_id = %(project)s AND session_id <> ''
    UNION
    SELECT project_id, session_id FROM scores_sessionsummary WHERE project_id = %(project)s
)"""
    + _RECOMPUTE_BODY
)

# Statement triggers (transition tables: one INSERT into the queue per statement, not per row). An update marks
# the old and the new session of each row where a column the summary reads changed.
_CHANGED = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in SESSION_COLUMNS)
TRIGGERS_CREATE = f"""
CREATE FUNCTION scores_session_traces_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO scores_sessiondirty (project_id, session_id)
    SELECT DISTINCT project_id, session_id FROM changed_rows WHERE session_id <> '';
    RETURN NULL;
END $$;
CREATE FUNCTION scores_session_traces_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO scores_sessiondirty (project_id, session_id)
    SELECT DISTINCT k.project_id, k.session_id
    FROM old_rows o JOIN new_rows n ON n.id = o.id,
         LATERAL (VALUES (o.project_id, o.session_id), (n.project_id, n.session_id)) AS k(project_id, session_id)
    WHERE k.session_id <> '' AND ({_CHANGED});
    RETURN NULL;
END $$;
CREATE TRIGGER scores_session_traces_inserted AFTER INSERT ON traces_trace
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION scores_session_traces_added();
CREATE TRIGGER scores_session_traces_deleted AFTER DELETE ON traces_trace
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION scores_session_traces_added();
CREATE TRIGGER scores_session_traces_updated AFTER UPDATE ON traces_trace
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION scores_session_traces_updated();
"""
TRIGGERS_DROP = """
DROP TRIGGER IF EXISTS scores_session_traces_inserted ON traces_trace;
DROP TRIGGER IF EXISTS scores_session_traces_deleted ON traces_trace;
DROP TRIGGER IF EXISTS scores_session_traces_updated ON traces_trace;
DROP FUNCTION IF EXISTS scores_session_traces_added();
DROP FUNCTION IF EXISTS scores_session_traces_updated();
"""


def sessions_dirty_mark(*, project_id: int, trace_pks: Sequence[int]) -> int:
    """Mark the sessions of these traces dirty (their scores changed); return keys written."""
    if not trace_pks:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(DIRTY_MARK_SQL, {"ids": list(trace_pks), "project": project_id})
        return cursor.rowcount


def session_summaries_recompute(*, keys: Sequence[tuple[int, str]]) -> None:
    """Recompute these (project, session) summaries from their rows (inside a transaction holding the lock)."""
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(RECOMPUTE_SQL, {"projects": [k[0] for k in keys], "sessions": [k[1] for k in keys]})


def session_summaries_rebuild(*, project_id: int) -> None:
    """Recompute every session summary of the project in one statement, and drop its dirty keys (tools, and data
    written in bulk: a group-by over the project's rows beats recomputing its sessions a batch at a time)."""
    with transaction.atomic():
        _lock(wait=True)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM scores_sessiondirty WHERE project_id = %s", [project_id])
            cursor.execute(REBUILD_SQL, {"project": project_id})


def _lock(*, wait: bool) -> bool:
    """Take the transaction-scoped session-summary lock (wait for it, or try once); return whether it is held."""
    return advisory_xact_lock(SESSION_LOCK_KEY, wait=wait)


def session_summaries_drain(*, limit: int | None = None, budget_seconds: float | None = None) -> int:
    """Recompute the dirty sessions (at most `limit` keys per transaction) until none are left or the budget is
    spent; return how many distinct sessions were recomputed. Another drain running: returns 0."""
    limit = limit or settings.SESSION_SUMMARY_DRAIN_BATCH
    budget = settings.SESSION_SUMMARY_DRAIN_BUDGET if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    done = 0
    while True:
        with transaction.atomic():
            if not _lock(wait=False):
                return done
            with connection.cursor() as cursor:
                cursor.execute(DIRTY_TAKE_SQL, {"limit": limit})
                taken = cursor.fetchall()
            keys = sorted(set(taken))
            session_summaries_recompute(keys=keys)
        done += len(keys)
        if len(taken) < limit or time.monotonic() >= deadline:
            return done


EXPIRE_SQL = """
DELETE FROM scores_sessionsummary WHERE id IN (
    SELECT id FROM scores_sessionsummary WHERE project_id = %(project)s AND last_at < %(gone)s LIMIT %(batch)s
)
"""
# Sessions with traces on both sides of the cutoff: recomputed from what retention left.
STRADDLING_MARK_SQL = """
INSERT INTO scores_sessiondirty (project_id, session_id)
SELECT project_id, session_id FROM scores_sessionsummary
WHERE project_id = %(project)s AND first_at < %(kept)s AND last_at >= %(gone)s
"""


def session_summaries_expire(*, now: datetime | None = None) -> dict[str, partitions.Expiry]:
    """Retention of session summaries, after traces_expire (a RETENTION_EXPIRERS step).

    A trace goes when its partition_at is before the project's cutoff, and partition_at is within
    TRACE_PARTITION_WINDOW of started_at: a session whose last activity is before cutoff - window has no trace
    left and its row is deleted; one whose first start is before cutoff + window may have lost some, so it is
    marked dirty and the drain recomputes it (or deletes it, when nothing is left).
    """
    deleted = 0
    deadline = time.monotonic() + settings.RETENTION_DELETE_BUDGET_SECONDS
    for project_id, retention in sorted(project_retention_list().items()):
        cutoff = partitions.retention_cutoff(days=retention.traces_days, now=now)
        params = {
            "project": project_id,
            "gone": cutoff - TRACE_PARTITION_WINDOW,
            "kept": cutoff + TRACE_PARTITION_WINDOW,
            "batch": partitions.RETENTION_DELETE_BATCH,
        }
        with connection.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute(EXPIRE_SQL, params)
                deleted += cursor.rowcount
                if cursor.rowcount < partitions.RETENTION_DELETE_BATCH:
                    break
            cursor.execute(STRADDLING_MARK_SQL, params)
    return {"scores_sessionsummary": partitions.Expiry(dropped=[], deleted=deleted)}
