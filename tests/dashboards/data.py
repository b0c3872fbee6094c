"""A little traffic for the dashboard tests, stored through the real services and rolled up by the real drain."""

from __future__ import annotations

from datetime import datetime, timedelta

from apps.projects.models import Project
from apps.scores.rollups import rollups_drain
from apps.scores.services import ScoreInput, scores_upsert
from tests.scores.rollup_traffic import batches_run
from tests.traces.factories import simple_trace


def dashboard_traffic(project: Project, *, now: datetime) -> dict[str, list]:
    """Recent traffic on /chat (prompt v1 passes `resolved`, v2 fails it), one error on /search, and older
    traffic 3 days back (both models passing); rollups drained. Returns the traces by group."""
    recent_v1 = [
        simple_trace(project, at=now - timedelta(minutes=40 - i), route="/chat", prompt_version="v1", model="m-1")
        for i in range(3)
    ]
    recent_v2 = [
        simple_trace(project, at=now - timedelta(minutes=20 - i), route="/chat", prompt_version="v2", model="m-2")
        for i in range(3)
    ]
    error = simple_trace(
        project, at=now - timedelta(minutes=15), route="/search", prompt_version="v2", model="m-2", status="error"
    )
    old = [
        simple_trace(
            project, at=now - timedelta(days=3, minutes=i), route="/chat", prompt_version="v1", model=f"m-{1 + i % 2}"
        )
        for i in range(4)
    ]
    batches_run()
    items = [ScoreInput(trace_pk=t.pk, name="resolved", source="external", passed=True) for t in recent_v1 + old]
    items += [
        ScoreInput(trace_pk=t.pk, name="resolved", source="external", passed=False, explanation="did not answer")
        for t in recent_v2
    ]
    scores_upsert(project=project, items=items)
    rollups_drain()
    return {"recent_v1": recent_v1, "recent_v2": recent_v2, "error": [error], "old": old}
