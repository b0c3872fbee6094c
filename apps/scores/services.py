"""Writes for scores: the one upsert every source goes through, and keeping dimensions current."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


def scores_upsert(*, project: Project, items: Sequence[ScoreInput]) -> int:
    """Insert or replace scores (unique per trace, name, source, evaluator version, span), with trace dims copied."""
    if not items:
        return 0
    traces = {
        t.id: t
        for t in Trace.objects.filter(project=project, id__in={i.trace_pk for i in items}).only(
            "id", "started_at", *DIMENSIONS
        )
    }
    rows = [
        Score(
            project=project,
            trace_id=item.trace_pk,
            span_id=item.span_id,
            name=item.name[:100],
            value=item.value,
            label=item.label[:100],
            passed=item.passed,
            explanation=item.explanation,
            source=item.source,
            evaluator_version=item.evaluator_version,
            judge_model=item.judge_model,
            metadata=item.metadata or {},
            trace_started_at=traces[item.trace_pk].started_at,
            **{dim: getattr(traces[item.trace_pk], dim) for dim in DIMENSIONS},
        )
        for item in items
        if item.trace_pk in traces
    ]
    with transaction.atomic():
        Score.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["trace", "name", "source", "evaluator_version", "span_id"],
            update_fields=["value", "label", "passed", "explanation", "judge_model", "metadata", "updated_at"],
        )
    return len(rows)


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
