"""Scores recorded over the API: per-item errors, replacement on resend, and the sources a client may use."""

from __future__ import annotations

import pytest

from apps.scores.models import Score
from tests.traces.factories import simple_trace

pytestmark = pytest.mark.django_db


def test_external_scores_are_stored_and_bad_items_named(api_client, project):
    trace = simple_trace(project)
    batch = {
        "scores": [
            {"trace_id": trace.trace_id, "name": "resolution", "value": 1, "passed": True, "label": "resolved"},
            {"trace_id": "f" * 32, "name": "resolution", "value": 0},
            {"trace_id": trace.trace_id, "name": "bad name!", "value": 1},
            {"trace_id": trace.trace_id, "name": "empty"},
        ]
    }
    response = api_client.post("/api/v1/scores", batch, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (1, "scores[1].trace_id"),
        (2, "scores[2].name"),
        (3, "scores[3].value"),
    ]
    score = Score.objects.get(trace=trace, name="resolution")
    assert (score.source, score.value, score.passed, score.route) == ("external", 1.0, True, trace.route)
    # Resending replaces instead of duplicating.
    api_client.post("/api/v1/scores", {"scores": [batch["scores"][0] | {"value": 0.5}]}, format="json")
    assert Score.objects.get(trace=trace, name="resolution").value == 0.5


@pytest.mark.parametrize("source", ["human", "feedback", "offline", "external"])
def test_a_score_keeps_the_source_it_was_sent_with(api_client, project, source):
    trace = simple_trace(project)
    item = {"trace_id": trace.trace_id, "name": "helpful", "value": 1, "source": source}
    response = api_client.post("/api/v1/scores", {"scores": [item]}, format="json")
    assert (response.status_code, response.json()["accepted"]) == (200, 1)
    assert Score.objects.get(trace=trace, name="helpful").source == source


def test_a_score_without_a_source_is_external(api_client, project):
    trace = simple_trace(project)
    item = {"trace_id": trace.trace_id, "name": "helpful", "value": 1}
    api_client.post("/api/v1/scores", {"scores": [item]}, format="json")
    assert Score.objects.get(trace=trace, name="helpful").source == "external"


@pytest.mark.parametrize("source", ["judge", "programmatic", "oracle", ""])
def test_a_source_a_client_may_not_set_is_400_naming_source(api_client, project, source):
    trace = simple_trace(project)
    item = {"trace_id": trace.trace_id, "name": "helpful", "value": 1, "source": source}
    response = api_client.post("/api/v1/scores", {"scores": [item]}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert (body["field"], body["accepted"]) == ("scores[0].source", 0)
    assert body["error"].startswith("source:") and "human" in body["error"]
    assert not Score.objects.filter(trace=trace).exists()


def test_a_bad_source_rejects_only_its_own_item(api_client, project):
    trace = simple_trace(project)
    good = {"trace_id": trace.trace_id, "name": "a", "value": 1, "source": "human"}
    bad = {"trace_id": trace.trace_id, "name": "b", "value": 1, "source": "judge"}
    body = api_client.post("/api/v1/scores", {"scores": [good, bad]}, format="json").json()
    assert body["accepted"] == 1
    assert body["rejected"] == [{"index": 1, "field": "scores[1].source", "error": body["rejected"][0]["error"]}]
    assert list(Score.objects.filter(trace=trace).values_list("name", "source")) == [("a", "human")]
