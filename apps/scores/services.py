"""Writes for scores: the one upsert every source goes through, and keeping dimensions current."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from apps.projects.models import Project
from apps.scores.models import Score
from apps.traces.models import Span, Trace
from apps.traces.normalize import LogContent, LogEvaluation
from apps.traces.services import span_content_attach, traces_ensure

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


# One fixed statement whatever the batch size: arrays in, rows out. Dimensions are copied from the
# trace in the same statement, so a score never carries stale slicing values at insert time.
SCORES_UPSERT_SQL = """
INSERT INTO scores_score (
    project_id, trace_id, span_id, name, value, label, passed, explanation, source, evaluator_version,
    judge_model, metadata, route, model, prompt_version, environment, trace_started_at, created_at, updated_at
)
SELECT t.project_id, t.id, i.span_id, i.name, i.value, i.label, i.passed, i.explanation, i.source,
       i.evaluator_version, i.judge_model, i.metadata, t.route, t.model, t.prompt_version, t.environment,
       t.started_at, now(), now()
FROM unnest(%(trace_pk)s::bigint[], %(span_id)s::text[], %(name)s::text[], %(value)s::float8[], %(label)s::text[],
            %(passed)s::boolean[], %(explanation)s::text[], %(source)s::text[], %(evaluator_version)s::text[],
            %(judge_model)s::text[], %(metadata)s::jsonb[])
     AS i(trace_pk, span_id, name, value, label, passed, explanation, source, evaluator_version, judge_model, metadata)
JOIN traces_trace t ON t.id = i.trace_pk AND t.project_id = %(project_id)s
ON CONFLICT (trace_id, name, source, evaluator_version, span_id) DO UPDATE SET
    value = EXCLUDED.value, label = EXCLUDED.label, passed = EXCLUDED.passed, explanation = EXCLUDED.explanation,
    judge_model = EXCLUDED.judge_model, metadata = EXCLUDED.metadata, updated_at = EXCLUDED.updated_at
"""


def scores_upsert(*, project: Project, items: Sequence[ScoreInput]) -> int:
    """Insert or replace scores (unique per trace, name, source, evaluator version, span), with trace dims copied."""
    # One statement cannot update a row twice: of repeated keys, the last item wins.
    unique: dict[tuple[int, str, str, str, str], ScoreInput] = {}
    for item in items:
        unique[(item.trace_pk, item.name[:100], item.source, item.evaluator_version, item.span_id)] = item
    if not unique:
        return 0
    rows = list(unique.values())
    params = {
        "project_id": project.id,
        "trace_pk": [r.trace_pk for r in rows],
        "span_id": [r.span_id for r in rows],
        "name": [r.name[:100] for r in rows],
        "value": [r.value for r in rows],
        "label": [r.label[:100] for r in rows],
        "passed": [r.passed for r in rows],
        "explanation": [r.explanation for r in rows],
        "source": [r.source for r in rows],
        "evaluator_version": [r.evaluator_version for r in rows],
        "judge_model": [r.judge_model for r in rows],
        "metadata": [json.dumps(r.metadata or {}) for r in rows],
    }
    with transaction.atomic():
        connection.ensure_connection()
        # Server-side binding: the arrays travel as parameters instead of being quoted into the SQL text,
        # which is what makes a batch cost one round trip and little Python.
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(SCORES_UPSERT_SQL, params)
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
            WHERE s.trace_id = t.id AND t.id = ANY(%s) AND t.project_id = %s
              AND (s.route, s.model, s.prompt_version, s.environment, s.trace_started_at)
                  IS DISTINCT FROM (t.route, t.model, t.prompt_version, t.environment, t.started_at)
            """,
            [list(trace_pks), project_id],
        )
        return cursor.rowcount


def log_events_ingest(*, project: Project, events: Sequence[LogContent | LogEvaluation]) -> None:
    """Store GenAI log events: content goes to its span, evaluation results become external scores."""
    evaluations = [e for e in events if isinstance(e, LogEvaluation)]
    with transaction.atomic():
        for event in events:
            if isinstance(event, LogContent):
                span_content_attach(project=project, content=event)
        if not evaluations:
            return
        # An evaluation may arrive before its trace: a placeholder row is completed when the spans come.
        now = timezone.now()
        trace_pks = traces_ensure(project=project, started={e.trace_id: getattr(e, "time", None) or now for e in evaluations})
        scores_upsert(
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
    spans = Span.objects.filter(trace_id__in=list(trace_pks)).exclude(evaluations=[]).values_list(
        "trace_id", "span_id", "evaluations"
    )
    for trace_pk, span_id, evaluations in spans:
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
    """Store validated external scores; return (index, trace_id) of those naming a trace the project lacks."""
    trace_ids = {data["trace_id"].lower() for _, data in items}
    pks = dict(Trace.objects.filter(project=project, trace_id__in=trace_ids).values_list("trace_id", "id"))
    missing = [(i, data["trace_id"]) for i, data in items if data["trace_id"].lower() not in pks]
    scores_upsert(
        project=project,
        items=[
            ScoreInput(
                trace_pk=pks[data["trace_id"].lower()], span_id=data["span_id"].lower(), name=data["name"],
                source=Score.Source.EXTERNAL, value=data["value"], label=data["label"], passed=data["passed"],
                explanation=data["explanation"], evaluator_version=data["version"],
            )
            for _, data in items
            if data["trace_id"].lower() in pks
        ],
    )
    return missing
