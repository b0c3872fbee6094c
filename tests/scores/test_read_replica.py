"""DATABASE_READ_URL: rollup reads (metrics API, dashboards, SLI series) go to the replica alias, writes stay."""

from __future__ import annotations

import pytest
from django.db import connections
from django.db.utils import load_backend
from django.test.utils import CaptureQueriesContext

from apps.projects.services import project_create
from apps.scores.rollups import rollups_drain
from apps.scores.services import ScoreInput, scores_upsert
from tests.scores.rollup_traffic import T0
from tests.scores.test_metrics_api import client_for
from tests.traces.factories import simple_trace

# transaction=True: the replica alias is its own session, so it sees only committed rows, as a real replica does.
pytestmark = pytest.mark.django_db(transaction=True)

QUERY = {"metric": "resolved", "from": "2026-11-27T00:00:00Z", "to": "2026-11-28T00:00:00Z", "interval": "1d"}


@pytest.fixture
def replica(transactional_db, settings):
    """Register a 'replica' alias (a second session on the test database) and point dashboard reads at it.

    It goes into the handler's per-thread connections only, as Django does for connections made at run time,
    so the test case's guard against undeclared aliases leaves it alone.
    """
    primary = connections.settings["default"]
    wrapper = load_backend(primary["ENGINE"]).DatabaseWrapper(dict(primary), "replica")
    connections._connections.replica = wrapper
    settings.DASHBOARD_DB_ALIAS = "replica"
    yield wrapper
    wrapper.close()
    del connections._connections.replica


def test_the_metrics_api_reads_rollups_from_the_replica(replica):
    project = project_create(name="Replica", slug="replica")
    traces = [simple_trace(project, at=T0) for _ in range(3)]
    scores_upsert(
        project=project,
        items=[
            ScoreInput(trace_pk=t.pk, name="resolved", source="external", passed=v)
            for t, v in zip(traces, [True, False, True], strict=True)
        ],
    )
    rollups_drain()
    client = client_for(project)
    with CaptureQueriesContext(connections["default"]) as primary, CaptureQueriesContext(replica) as read:
        response = client.get("/api/v1/metrics", QUERY)
    assert response.status_code == 200, response.content
    [point] = response.json()["series"][0]["points"]
    assert (point["count"], point["pass_rate"]) == (3, 2 / 3)
    assert any("scores_rollup" in q["sql"] for q in read.captured_queries)
    assert not any("scores_rollup" in q["sql"] for q in primary.captured_queries)


def test_without_a_replica_rollups_are_read_from_the_primary(settings):
    assert settings.DASHBOARD_DB_ALIAS == "default"
    project = project_create(name="Primary", slug="primary")
    scores_upsert(
        project=project,
        items=[ScoreInput(trace_pk=simple_trace(project, at=T0).pk, name="resolved", source="external", passed=True)],
    )
    rollups_drain()
    with CaptureQueriesContext(connections["default"]) as primary:
        response = client_for(project).get("/api/v1/metrics", QUERY)
    assert response.json()["series"][0]["points"][0]["count"] == 1
    assert any("scores_rollup" in q["sql"] for q in primary.captured_queries)
