"""Langfuse scores sent before their trace: accepted, kept as pending feedback, written when the trace comes."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.feedback.models import Feedback
from apps.feedback.selectors import feedback_unlinked_list
from apps.feedback.services import feedback_link_sweep, feedback_scores_write
from apps.scores.models import Score
from apps.scores.services import ScoreInput, scores_upsert
from apps.traces.models import Trace
from apps.traces.services import traces_ensure
from tests.feedback.test_linking_worker import wait_for
from tests.traces.factories import new_trace_id, rag_trace


def basic(secret: str) -> dict[str, str]:
    token = base64.b64encode(f"pk-lf-any:{secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def post_score(client, api_key: str, body: dict):
    return client.post("/api/public/scores", data=json.dumps(body), content_type="application/json", **basic(api_key))


@pytest.mark.django_db
def test_a_score_before_its_trace_is_accepted_pending_and_listed_as_unlinked(client, api_key, project):
    tid = new_trace_id()
    body = {"traceId": tid, "name": "correctness", "value": 1, "dataType": "BOOLEAN", "comment": "right"}
    response = post_score(client, api_key, body)
    assert response.status_code == 200 and response.json()["id"]
    row = Feedback.objects.get(project=project)
    assert (row.kind, row.trace_pk, row.score["name"], row.score["passed"]) == ("score", None, "correctness", True)
    assert not Score.objects.exists()
    later = timezone.now() + timedelta(days=1)  # past the grace period: it is shown where unlinked feedback is
    assert [(u.trace_id, u.kinds) for u in feedback_unlinked_list(project=project, now=later)] == [(tid, ["score"])]


@pytest.mark.django_db
def test_the_sweep_writes_the_pending_score_when_its_trace_exists_without_marking_feedback(client, api_key, project):
    tid = new_trace_id()
    post_score(client, api_key, {"traceId": tid, "observationId": "ab" * 8, "name": "tone", "value": "warm"})
    traces_ensure(project=project, started={tid: timezone.now()})
    assert feedback_link_sweep() == 1
    trace = Trace.objects.get(project=project, trace_id=tid)
    score = Score.objects.get(trace=trace, name="tone")
    assert (score.source, score.label, score.value, score.span_id) == ("external", "warm", None, "ab" * 8)
    assert trace.has_feedback is False  # a score is not the user's feedback
    assert feedback_link_sweep() == 0


@pytest.mark.django_db
def test_a_score_for_a_stored_trace_is_written_at_once(client, api_key, project):
    trace = rag_trace(project)
    assert post_score(client, api_key, {"traceId": trace.trace_id, "name": "x", "value": 0.5}).status_code == 200
    assert Score.objects.get(trace=trace, name="x").value == 0.5
    assert not Feedback.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_worker_links_a_pending_langfuse_score_when_the_trace_is_ingested(
    client, api_key, api_client, project, celery_worker
):
    tid = new_trace_id()
    assert post_score(client, api_key, {"traceId": tid, "name": "helpfulness", "value": 3}).status_code == 200
    trace = {
        "trace_id": tid,
        "name": "answer",
        "route": "support.answer",
        "started_at": "2026-11-27T10:00:00Z",
        "ended_at": "2026-11-27T10:00:01Z",
        "input": "How do I reset my password?",
        "output": "Open Settings.",
    }
    assert api_client.post("/api/v1/traces", {"traces": [trace]}, format="json").json()["accepted"] == 1
    assert wait_for(lambda: Score.objects.filter(name="helpfulness").exists())
    score = Score.objects.get(name="helpfulness")
    assert (score.source, score.value, score.route) == ("external", 3.0, "support.answer")
    assert Feedback.objects.get(project=project).trace_pk == Trace.objects.get(project=project, trace_id=tid).pk


# transaction=True: each request commits on its own, so now() (the score's updated_at) is the time it was sent.
@pytest.mark.django_db(transaction=True)
def test_a_late_pending_score_does_not_overwrite_a_newer_score_sent_to_the_trace(client, api_key, project):
    tid = new_trace_id()
    assert post_score(client, api_key, {"traceId": tid, "name": "correctness", "value": 0.2}).status_code == 200
    traces_ensure(project=project, started={tid: timezone.now()})  # the trace arrives; the score is not linked yet
    assert post_score(client, api_key, {"traceId": tid, "name": "correctness", "value": 0.9}).status_code == 200
    assert feedback_link_sweep() == 1  # the pending score is linked late
    trace = Trace.objects.get(project=project, trace_id=tid)
    score = Score.objects.get(trace=trace, name="correctness")
    assert (score.source, score.value) == ("external", 0.9)  # the newer score stays
    feedback_scores_write(project=project, trace_pks=[trace.pk])  # a later rewrite (more feedback linked) too
    assert Score.objects.get(trace=trace, name="correctness").value == 0.9


@pytest.mark.django_db
def test_a_late_pending_score_replaces_an_older_score_and_keeps_its_time(client, api_key, project):
    tid = new_trace_id()
    assert post_score(client, api_key, {"traceId": tid, "name": "correctness", "value": 0.2}).status_code == 200
    sent_at = Feedback.objects.get(project=project).occurred_at
    traces_ensure(project=project, started={tid: timezone.now()})
    trace = Trace.objects.get(project=project, trace_id=tid)
    scores_upsert(
        project=project, items=[ScoreInput(trace_pk=trace.pk, name="correctness", source="external", value=1)]
    )
    Score.objects.filter(trace=trace).update(updated_at=sent_at - timedelta(minutes=1))  # given before the pending one
    assert feedback_link_sweep() == 1
    score = Score.objects.get(trace=trace, name="correctness")
    assert (score.value, score.updated_at) == (0.2, sent_at)
    assert Score.objects.filter(trace=trace).count() == 1
