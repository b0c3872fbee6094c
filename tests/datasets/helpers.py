"""Live traffic of two prompt versions and offline values for both, stored and rolled up through the real services."""

from __future__ import annotations

from datetime import datetime, timedelta

from apps.datasets.models import OfflineMetric
from apps.datasets.offline import MetricInput, offline_run_create
from apps.projects.models import Project
from apps.scores.rollups import rollups_drain
from apps.scores.services import ScoreInput, scores_upsert
from apps.traces.models import Trace
from tests.scores.rollup_traffic import batches_run
from tests.traces.factories import simple_trace


def two_versions(project: Project, *, now: datetime) -> list[Trace]:
    """Four hours (at :20 of `now`'s hour and the 3 before): v1 passes `resolved` 3 of 5 times an hour, v2 5 of 5;
    the offline suite (measured 5 h before `now`) says 0.9 for v1 (30 points better than production) and 0.95
    for v2 (5 points stricter). Returns v1's failing traces."""
    verdicts = []
    for hour in range(4):
        at = now - timedelta(hours=hour) + timedelta(minutes=20)
        for i in range(5):
            v1 = simple_trace(project, at=at + timedelta(seconds=i), prompt_version="v1", model="m-1")
            v2 = simple_trace(project, at=at + timedelta(seconds=10 + i), prompt_version="v2", model="m-1")
            verdicts += [(v1, i < 3), (v2, True)]
    batches_run()
    scores_upsert(
        project=project,
        items=[ScoreInput(trace_pk=t.pk, name="resolved", source="external", passed=p) for t, p in verdicts],
    )
    rollups_drain()
    for version, value in (("v1", 0.9), ("v2", 0.95)):
        offline_run_create(
            project=project,
            name=f"suite {version}",
            model="m-1",
            prompt_version=version,
            metrics=[MetricInput("resolved", value, 200)],
        )
    OfflineMetric.objects.update(measured_at=now - timedelta(hours=5))  # the suite ran before the traffic
    return [t for t, passed in verdicts if not passed]
