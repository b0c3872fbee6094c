"""Writes for scores: the one upsert every source goes through, and keeping dimensions current."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from apps.core import partitions
from apps.projects.models import Project
from apps.projects.selectors import project_retention_list
from apps.scores.models import Score
from apps.scores.rollups import rollups_dirty_mark
from apps.scores.sessions import sessions_dirty_mark
from apps.traces.models import Trace
from apps.traces.normalize import LogEvaluation
from apps.traces.selectors import span_evaluations_list
from apps.traces.services import traces_ensure

DIMENSIONS = ("route", "model", "prompt_version", "environment")


@dataclass(frozen=True)
class ScoreInput:
    """One evaluation result to store against a trace."""

    trace_pk: int
    name: str
    source: str
    value: float | None = None
    label: str = ""
    passed: bool | None = None
    explanation: str = ""
    span_id: str = ""
    evaluator_version: str = ""
    judge_model: str = ""
    metadata: dict | None = None
    # When the score was given, if before now (a score kept pending until its trace came): the write then does
    # not replace a score with the same key updated after that time.
    given_at: datetime | None = None


# One fixed statement whatever the batch size: the rows travel as one JSON array of arrays (json.dumps is C code,
# where adapting eleven typed arrays element by element was Python), and are read back by position. Dimensions are
# copied from the trace in the same statement, so a score never carries stale slicing values at insert time. The
# trace ids are passed again as an array so the planner looks the batch's traces up by primary key (project_id, id,
# partition_at): one probe per partition. The score takes its trace's partition_at (the same time slice).
# Two variants: a score written now, and a score given earlier (ScoreInput.given_at), which is stamped with that time
# and does not replace a score updated after it.
_SCORES_UPSERT_TEMPLATE = """
INSERT INTO scores_score (
    project_id, trace_id, span_id, name, value, label, passed, explanation, source, evaluator_version,
    judge_model, metadata, route, model, prompt_version, environment, trace_started_at, partition_at, created_at,
    updated_at
)
SELECT t.project_id, t.id, i.span_id, i.name, i.value, i.label, i.passed, i.explanation, i.source,
       i.evaluator_version, i.judge_model, i.metadata, t.route, t.model, t.prompt_version, t.environment,
       t.started_at, t.partition_at, now(), {updated_at}
FROM (
    SELECT (e ->> 0)::bigint AS trace_pk, e ->> 1 AS span_id, e ->> 2 AS name, (e ->> 3)::float8 AS value,
           e ->> 4 AS label, (e ->> 5)::boolean AS passed, e ->> 6 AS explanation, e ->> 7 AS source,
           e ->> 8 AS evaluator_version, e ->> 9 AS judge_model, e -> 10 AS metadata{given_at}
    FROM jsonb_array_elements(%(rows)s::jsonb) AS e
) AS i
JOIN traces_trace t ON t.id = i.trace_pk AND t.project_id = %(project_id)s AND t.id = ANY(%(trace_pks)s::bigint[])
ON CONFLICT (project_id, trace_id, name, source, evaluator_version, span_id, partition_at) DO UPDATE SET
    value = EXCLUDED.value, label = EXCLUDED.label, passed = EXCLUDED.passed, explanation = EXCLUDED.explanation,
    judge_model = EXCLUDED.judge_model, metadata = EXCLUDED.metadata, updated_at = EXCLUDED.updated_at{where}
"""
SCORES_UPSERT_SQL = _SCORES_UPSERT_TEMPLATE.format(updated_at="now()", given_at="", where="")
SCORES_UPSERT_GIVEN_SQL = _SCORES_UPSERT_TEMPLATE.format(
    updated_at="i.given_at",
    given_at=", (e ->> 11)::timestamptz AS given_at",
    where="\nWHERE scores_score.updated_at <= EXCLUDED.updated_at",
)


# Called after commit with (project_id=, trace_pks=, sources=) whenever scores are written. Higher apps (review's
# routing) subscribe from their AppConfig.ready, so scores never imports them; a consumer should only enqueue a job.
ScoresWrittenConsumer = Callable[..., None]
_scores_written_consumers: list[ScoresWrittenConsumer] = []


def scores_written_subscribe(consumer: ScoresWrittenConsumer) -> None:
    """Call `consumer(project_id=, trace_pks=, sources=)` after each commit that wrote scores (once per consumer)."""
    if consumer not in _scores_written_consumers:
        _scores_written_consumers.append(consumer)


def _scores_written_notify(project_id: int, trace_pks: list[int], sources: list[str]) -> None:
    for consumer in list(_scores_written_consumers):
        consumer(project_id=project_id, trace_pks=trace_pks, sources=sources)


def _float(value: float | None) -> float | str | None:
    """A score value for the JSON rows: NaN and infinities (not JSON) as text that float8 reads."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else str(value)


def scores_upsert(*, project: Project, items: Sequence[ScoreInput]) -> int:
    """Insert or replace scores (unique per trace, name, source, evaluator version, span), with trace dims copied."""
    # One statement cannot update a row twice: of repeated keys, the last item wins.
    unique: dict[tuple[int, str, str, str, str], list] = {}
    for r in items:
        name = r.name[:100]
        row = [
            r.trace_pk,
            r.span_id,
            name,
            _float(r.value),
            r.label[:100],
            r.passed,
            r.explanation,
            r.source,
            r.evaluator_version,
            r.judge_model,
            r.metadata or {},
        ]
        if r.given_at is not None:
            row.append(r.given_at.isoformat())
        unique[(r.trace_pk, name, r.source, r.evaluator_version, r.span_id)] = row
    if not unique:
        return 0
    now_rows = [row for row in unique.values() if len(row) == 11]
    given_rows = [row for row in unique.values() if len(row) == 12]  # with their given_at
    # The scores and their rollup minutes' dirty marks commit together. Inside the caller's transaction no
    # savepoint is needed (two round trips saved); a failure still marks the transaction for rollback.
    with transaction.atomic(savepoint=False):
        written = 0
        for sql, rows in ((SCORES_UPSERT_SQL, now_rows), (SCORES_UPSERT_GIVEN_SQL, given_rows)):
            if rows:
                written += _scores_upsert_execute(sql, _upsert_params(project.id, rows))
        dirty = sorted({key[0] for key in unique})
        rollups_dirty_mark(project_id=project.id, trace_pks=dirty)
        sessions_dirty_mark(project_id=project.id, trace_pks=dirty)  # failing scores count in the session list
    if _scores_written_consumers:
        # One callback per call, after commit (at once in autocommit): a rolled-back write notifies nobody.
        pks = sorted({key[0] for key in unique})
        sources = sorted({key[2] for key in unique})
        transaction.on_commit(lambda: _scores_written_notify(project.id, pks, sources))
    return written


def scores_supersede(*, project: Project, trace_pks: Sequence[int], name: str, source: str, keep_version: str) -> int:
    """Delete these traces' scores of one metric and source from versions other than keep_version; return how many.

    A re-score with a new evaluator version replaces the old result, so rollups (which carry no version) count
    each trace once.
    """
    if not trace_pks:
        return 0
    with transaction.atomic(savepoint=False):
        deleted, _ = (
            Score.objects.filter(project_id=project.id, trace_id__in=list(trace_pks), name=name, source=source)
            .exclude(evaluator_version=keep_version)
            .delete()
        )
        if deleted:
            rollups_dirty_mark(project_id=project.id, trace_pks=list(trace_pks))
            sessions_dirty_mark(project_id=project.id, trace_pks=list(trace_pks))
    return deleted


def _upsert_params(project_id: int, rows: list[list]) -> dict:
    """The parameters of one upsert statement: the rows as one JSON array, their trace ids as an array."""
    return {
        "project_id": project_id,
        "rows": json.dumps(rows, ensure_ascii=False),
        "trace_pks": "{" + ",".join(str(int(pk)) for pk in {row[0] for row in rows}) + "}",
    }


def _scores_upsert_execute(sql: str, params: dict) -> int:
    connection.ensure_connection()
    # Server-side binding: the rows travel as one parameter instead of being quoted into the SQL text.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def scores_dimensions_refresh(*, project_id: int, trace_pks: Sequence[int]) -> int:
    """Copy the traces' current slicing dimensions onto their scores (spans may complete a trace late)."""
    if not trace_pks:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE scores_score s SET route = t.route, model = t.model, prompt_version = t.prompt_version,
                environment = t.environment, trace_started_at = t.started_at
            FROM traces_trace t
            WHERE s.project_id = t.project_id AND s.trace_id = t.id AND s.partition_at = t.partition_at
              AND t.id = ANY(%s) AND t.project_id = %s
              AND (s.route, s.model, s.prompt_version, s.environment, s.trace_started_at)
                  IS DISTINCT FROM (t.route, t.model, t.prompt_version, t.environment, t.started_at)
            """,
            [list(trace_pks), project_id],
        )
        return cursor.rowcount


def log_evaluations_ingest(*, project: Project, evaluations: Sequence[LogEvaluation]) -> int:
    """Store gen_ai.evaluation.result events (each naming a real trace) as external scores.

    Traces calls this through settings.LOG_EVALUATION_CONSUMERS, inside its ingest transaction.
    """
    evaluations = [e for e in evaluations if e.trace_id]  # a trace row never gets an empty id
    if not evaluations:
        return 0
    # An evaluation may arrive before its trace: a placeholder row is completed when the spans come.
    now = timezone.now()
    trace_pks = traces_ensure(
        project=project, started={e.trace_id: getattr(e, "time", None) or now for e in evaluations}
    )
    return scores_upsert(
        project=project,
        items=[
            ScoreInput(
                trace_pk=trace_pks[e.trace_id],
                span_id=e.span_id,
                name=e.name,
                source=Score.Source.EXTERNAL,
                value=e.score,
                label=e.label,
                explanation=e.explanation,
                metadata={"response_id": e.response_id} if e.response_id else {},
            )
            for e in evaluations
        ],
    )


def scores_from_span_evaluations(*, project_id: int, trace_pks: Sequence[int]) -> int:
    """Store evaluations that arrived inside spans (OpenInference `evaluations.*`) as external scores."""
    project = Project.objects.get(id=project_id)
    items = []
    for trace_pk, span_id, evaluations in span_evaluations_list(project_id=project_id, trace_pks=trace_pks):
        for evaluation in evaluations:
            name = str(evaluation.get("name") or "").strip()
            if not name:
                continue
            value = evaluation.get("score")
            items.append(
                ScoreInput(
                    trace_pk=trace_pk,
                    span_id=span_id,
                    name=name,
                    source=Score.Source.EXTERNAL,
                    value=float(value) if isinstance(value, (int, float)) else None,
                    label=str(evaluation.get("label") or ""),
                    explanation=str(evaluation.get("explanation") or ""),
                )
            )
    return scores_upsert(project=project, items=items)


def external_scores_ingest(*, project: Project, items: Sequence[tuple[int, dict]]) -> list[tuple[int, str]]:
    """Store validated API scores (external unless they name a source); return (index, trace_id) of unknown traces."""
    trace_ids = {data["trace_id"].lower() for _, data in items}
    pks = dict(Trace.objects.filter(project=project, trace_id__in=trace_ids).values_list("trace_id", "id"))
    missing = [(i, data["trace_id"]) for i, data in items if data["trace_id"].lower() not in pks]
    scores_upsert(
        project=project,
        items=[
            ScoreInput(
                trace_pk=pks[data["trace_id"].lower()],
                span_id=data["span_id"].lower(),
                name=data["name"],
                source=data.get("source") or Score.Source.EXTERNAL,
                value=data["value"],
                label=data["label"],
                passed=data["passed"],
                explanation=data["explanation"],
                evaluator_version=data["version"],
            )
            for _, data in items
            if data["trace_id"].lower() in pks
        ],
    )
    return missing


def scores_expire(*, now: datetime | None = None) -> dict[str, partitions.Expiry]:
    """Apply each project's score retention: whole day partitions dropped, the rest deleted in bounded batches."""
    cutoffs = {
        pid: partitions.retention_cutoff(days=r.scores_days, now=now) for pid, r in project_retention_list().items()
    }
    return {"scores_score": partitions.table_expire("scores_score", cutoffs=cutoffs)}
