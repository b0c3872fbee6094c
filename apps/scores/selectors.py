"""Reads for scores: a trace's scores, score conditions on trace lists, and rates per evaluator version."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import Avg, Count, Exists, OuterRef, Q, QuerySet

from apps.projects.models import Project
from apps.scores.models import Score
from apps.traces.models import Trace
from apps.traces.selectors import ScoreCondition


def trace_scores(*, trace: Trace) -> QuerySet[Score]:
    """Return the trace's scores by name and source."""
    return Score.objects.filter(trace=trace).order_by("name", "source")


def traces_with_score(*, traces: QuerySet[Trace], condition: ScoreCondition) -> QuerySet[Trace]:
    """Return the traces that have a score meeting the condition (e.g. `refusal:failed`, `grounding<0.7`)."""
    matching = Score.objects.filter(trace=OuterRef("pk"), name=condition.name)
    matching = matching.exclude(**condition.lookup) if condition.negate else matching.filter(**condition.lookup)
    return traces.filter(Exists(matching))


def score_names_known(*, project: Project, names: Sequence[str]) -> set[str]:
    """Return which of these score names the project has at least one score for (one indexed probe per name)."""
    return {name for name in set(names) if Score.objects.filter(project=project, name=name).exists()}


def failed_score_names(*, trace_pks: Sequence[int]) -> dict[int, list[str]]:
    """Return, per trace, the names of its failing scores (one query for a page of traces)."""
    failed: dict[int, list[str]] = {}
    rows = (
        Score.objects.filter(trace_id__in=trace_pks, passed=False)
        .values_list("trace_id", "name")
        .order_by("trace_id", "name")
        .distinct()
    )
    for trace_pk, name in rows:
        failed.setdefault(trace_pk, []).append(name)
    return failed


def score_rates_by_version(
    *, project: Project, since: datetime, sources: Sequence[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Return per (name, evaluator version) the count, pass rate (among scores with a verdict) and mean since then."""
    rows = (
        Score.objects.filter(project=project, trace_started_at__gte=since, source__in=sources)
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


def score_rows_for_traces(
    *, project_id: int, trace_pks: Sequence[int], exclude_sources: Sequence[str] = ()
) -> list[tuple[int, str, str, float | None, bool | None, Any]]:
    """Return (trace pk, name, source, value, passed, metadata confidence) of the traces' scores, in one query."""
    if not trace_pks:
        return []
    rows = (
        Score.objects.filter(project_id=project_id, trace_id__in=list(trace_pks))
        .exclude(source__in=list(exclude_sources))
        .values_list("trace_id", "name", "source", "value", "passed", "metadata__confidence")
    )
    return list(rows)
