"""Evaluators and backfills over the API, and the trace list filtered by their scores."""

from __future__ import annotations

import pytest

from apps.traces.models import Trace
from tests.traces.factories import simple_trace

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_client(admin_api_client):
    """Configuring evaluators and judges needs an admin-scoped key (admin keys also ingest and read)."""
    return admin_api_client


def test_define_list_and_change_an_evaluator(api_client, project):
    created = api_client.post(
        "/api/v1/evaluators",
        {
            "name": "short",
            "kind": "format",
            "config": {"max_length": 50},
            "filters": {"route": ["/chat"]},
            "sample_rate": 0.5,
        },
        format="json",
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["version"], body["filters"]) != ("", {})
    listed = {e["name"]: e for e in api_client.get("/api/v1/evaluators").json()["results"]}
    assert {"not_empty", "refusal", "citations", "grounding", "json_valid", "short"} <= set(listed)
    changed = api_client.put(f"/api/v1/evaluators/{body['id']}", {"config": {"max_length": 80}}, format="json")
    assert changed.status_code == 200
    assert changed.json()["version"] != body["version"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "r", "kind": "regex", "config": {"pattern": "(("}}, "config.pattern"),
        ({"name": "r", "kind": "nope"}, "kind"),
        ({"name": "has space", "kind": "format"}, "name"),
        ({"name": "j", "kind": "llm_judge", "judge": "missing"}, "judge"),
        ({"name": "not_empty", "kind": "format", "config": {"max_length": 5}}, "name"),
    ],
)
def test_bad_evaluators_are_400_naming_the_field(api_client, project, payload, field):
    response = api_client.post("/api/v1/evaluators", payload, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_backfill_over_the_api(api_client, project):
    simple_trace(project, output_text="fine answer")
    ev = next(e for e in api_client.get("/api/v1/evaluators").json()["results"] if e["name"] == "not_empty")
    started = api_client.post(
        f"/api/v1/evaluators/{ev['id']}/backfills",
        {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"},
        format="json",
    )
    assert started.status_code == 202
    assert started.json()["total"] == 1
    progress = api_client.get(f"/api/v1/backfills/{started.json()['id']}")
    assert progress.status_code == 200 and progress.json()["status"] in {"pending", "running", "done"}
    bad = api_client.post(
        f"/api/v1/evaluators/{ev['id']}/backfills",
        {"since": "2100-01-01T00:00:00Z", "until": "2000-01-01T00:00:00Z"},
        format="json",
    )
    assert (bad.status_code, bad.json()["field"]) == (400, "until")


def test_trace_list_filters_by_score(api_client, project):
    good = simple_trace(project, output_text="Sure — open Settings.")
    bad = simple_trace(project, output_text="I'm sorry, but I can't help with that request.")
    from apps.evaluators.services import evaluations_run

    evaluations_run(project_id=project.id, trace_pks=[good.id, bad.id])
    refused = api_client.get("/api/v1/traces", {"score": "refusal:failed"}).json()["results"]
    assert [t["trace_id"] for t in refused] == [bad.trace_id]
    high = api_client.get("/api/v1/traces", {"score": "refusal>=1"}).json()["results"]
    assert [t["trace_id"] for t in high] == [bad.trace_id]
    fine = api_client.get("/api/v1/traces", {"score": "refusal:passed"}).json()["results"]
    assert [t["trace_id"] for t in fine] == [good.trace_id]
    bad_filter = api_client.get("/api/v1/traces", {"score": "refusal~~1"})
    assert (bad_filter.status_code, bad_filter.json()["field"]) == (400, "score")
    assert Trace.objects.filter(project=project).count() == 2
