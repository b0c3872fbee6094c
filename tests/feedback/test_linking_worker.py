"""Feedback that arrives before its trace is linked by the real worker: after ingest, and by the sweep."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.feedback.models import Feedback
from apps.feedback.tasks import feedback_link_sweep_task
from apps.projects.services import api_key_create
from apps.scores.models import Score
from apps.traces.models import Trace
from apps.traces.services import traces_ensure
from tests.traces.factories import new_trace_id

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_feedback_sent_before_its_trace_is_linked_when_the_trace_is_ingested(project, api_client, celery_worker):
    tid = new_trace_id()
    browser = APIClient()
    browser.credentials(
        HTTP_AUTHORIZATION="Bearer " + api_key_create(project=project, name="fe", scope="feedback").plaintext
    )
    assert browser.post("/api/v1/feedback", {"trace_id": tid, "kind": "thumbs_down"}, format="json").status_code == 200
    assert Feedback.objects.get(project=project).trace_pk is None

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

    assert wait_for(lambda: Feedback.objects.filter(project=project, trace_pk__isnull=False).exists())
    stored = Trace.objects.get(project=project, trace_id=tid)
    assert Feedback.objects.get(project=project).trace_pk == stored.pk
    assert stored.has_feedback is True
    score = Score.objects.get(trace=stored, name="thumbs_down", source="feedback")
    assert (score.value, score.passed, score.route) == (1.0, False, "support.answer")
    # The has_feedback filter of the traces API now finds it.
    listed = api_client.get("/api/v1/traces?has_feedback=true").json()["results"]
    assert [t["trace_id"] for t in listed] == [tid]


def test_the_periodic_sweep_links_a_trace_created_outside_ingest(project, celery_worker):
    tid = new_trace_id()
    browser = APIClient()
    browser.credentials(
        HTTP_AUTHORIZATION="Bearer " + api_key_create(project=project, name="fe", scope="feedback").plaintext
    )
    browser.post("/api/v1/feedback", {"trace_id": tid, "kind": "rating", "value": 5}, format="json")
    pks = traces_ensure(project=project, started={tid: timezone.now()})  # a placeholder row, as scores make
    feedback_link_sweep_task.delay()
    assert wait_for(lambda: Score.objects.filter(trace_id=pks[tid], name="rating").exists())
    assert Feedback.objects.get(project=project).trace_pk == pks[tid]
    assert Trace.objects.get(pk=pks[tid]).has_feedback is True
