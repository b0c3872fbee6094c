"""Reads for feedback: a trace's feedback (API and trace page) and the feedback whose trace never arrived."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Count, Max, Min, QuerySet
from django.utils import timezone

from apps.feedback.models import Feedback
from apps.projects.models import Project
from apps.traces.models import Trace
from apps.traces.selectors import TracePagePanel


def trace_feedback_list(*, trace: Trace) -> QuerySet[Feedback]:
    """Return the trace's feedback, oldest first (by its (project, trace_id): rows that came before it included)."""
    return Feedback.objects.filter(project_id=trace.project_id, trace_id=trace.trace_id).order_by("occurred_at", "id")


def trace_feedback_panel(*, trace: Trace) -> TracePagePanel:
    """The trace page's feedback section (registered with traces in FeedbackConfig.ready)."""
    return TracePagePanel("feedback/_trace_feedback.html", {"rows": list(trace_feedback_list(trace=trace))})


@dataclass(frozen=True)
class UnlinkedTrace:
    """A trace id that feedback names but no trace of the project has, past the grace period."""

    trace_id: str
    count: int
    kinds: list[str]
    first_received_at: datetime
    last_received_at: datetime


def feedback_unlinked_list(*, project: Project, now: datetime | None = None, limit: int = 200) -> list[UnlinkedTrace]:
    """Return the trace ids of feedback still unlinked after FEEDBACK_UNLINKED_GRACE_SECONDS, latest first."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.FEEDBACK_UNLINKED_GRACE_SECONDS)
    rows = (
        Feedback.objects.filter(project=project, trace_pk__isnull=True)
        .values("trace_id")
        .annotate(
            count=Count("id"),
            kinds=ArrayAgg("kind", distinct=True, order_by="kind"),
            first_received_at=Min("created_at"),
            last_received_at=Max("created_at"),
        )
        .filter(first_received_at__lt=cutoff)
        .order_by("-last_received_at", "trace_id")[:limit]
    )
    return [UnlinkedTrace(**row) for row in rows]


def feedback_unlinked_count(*, project: Project) -> int:
    """Return how many feedback rows of the project wait for their trace (grace period or not)."""
    return Feedback.objects.filter(project=project, trace_pk__isnull=True).count()
