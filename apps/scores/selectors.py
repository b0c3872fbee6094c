"""Reads for scores: a trace's scores, score conditions on trace lists, and rates per evaluator version."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import Avg, Count, Exists, OuterRef, Q, QuerySet

from apps.projects.models import Project
from apps.scores.models import Score
from apps.traces.models import TRACE_PARTITION_WINDOW, Trace
from apps.traces.selectors import ScoreCondition


def trace_scores(*, trace: Trace) -> QuerySet[Score]:
    """Return the trace's scores by name and source."""
    # The trace's full key: one partition, the unique index (project, trace, ...).
    return Score.objects.filter(project_id=trace.project_id, trace=trace, partition_at=trace.partition_at).order_by(
        "name", "source"
    )


def traces_with_score(*, traces: QuerySet[Trace], condition: ScoreCondition) -> QuerySet[Trace]:
    """Return the traces that have a score meeting the condition (e.g. `refusal:failed`, `grounding<0.7`)."""
    matching = Score.objects.filter(
        project_id=OuterRef("project_id"),
        trace=OuterRef("pk"),
        partition_at=OuterRef("partition_at"),
        name=condition.name,
    )
    matching = matching.exclude(**condition.lookup) if condition.negate else matching.filter(**condition.lookup)
    return traces.filter(Exists(matching))


def failed_score_names(*, trace_pks: Sequence[int], project_id: int | None = None) -> dict[int, list[str]]:
    """Return, per trace, the names of its failing scores (one query for a page of traces)."""
    failed: dict[int, list[str]] = {}
    scores = Score.objects.filter(trace_id__in=trace_pks, passed=False)
    # The unique index leads with project: without it every partition would be scanned.
    if project_id is not None:
        scores = scores.filter(project_id=project_id)
    else:
        scores = scores.filter(project_id__in=Trace.objects.filter(id__in=trace_pks).values("project_id"))
    rows = scores.values_list("trace_id", "name").order_by("trace_id", "name").distinct()
    for trace_pk, name in rows:
        failed.setdefault(trace_pk, []).append(name)
    return failed


def score_rates_by_version(
    *, project: Project, since: datetime, sources: Sequence[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Return per (name, evaluator version) the count, pass rate (among scores with a verdict) and mean since then."""
    rows = (
        Score.objects.filter(
            project=project,
            trace_started_at__gte=since,
            partition_at__gte=since - TRACE_PARTITION_WINDOW,  # prunes partitions
            source__in=sources,
        )
        .values("name", "evaluator_version")
        .annotate(
            n=Count("id"),
            n_passed=Count("id", filter=Q(passed=True)),
            judged=Count("id", filter=Q(passed__isnull=False)),
            mean=Avg("value"),
        )
    )
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        rate = row["n_passed"] / row["judged"] if row["judged"] else None
        out[(row["name"], row["evaluator_version"])] = {"count": row["n"], "pass_rate": rate, "mean": row["mean"]}
    return out
