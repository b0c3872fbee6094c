"""Inferred signals are recorded by the real worker: after the later turn is stored, and by the abandon sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.feedback.models import Feedback
from apps.feedback.services import feedback_abandon_sweep
from apps.scores.models import Score
from apps.traces.models import Trace
from tests.feedback.test_linking_worker import wait_for
from tests.traces.factories import new_trace_id

pytestmark = pytest.mark.django_db(transaction=True)


def a_turn(trace_id: str, started, text: str, session: str = "s-1") -> dict:
    return {
        "trace_id": trace_id,
        "session_id": session,
        "route": "support.answer",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(seconds=2)).isoformat(),
        "input": text,
        "output": "an answer",
    }


def test_a_regeneration_is_recorded_on_the_earlier_turn_after_the_later_one_is_stored(
    project, api_client, celery_worker
):
    first, again = new_trace_id(), new_trace_id()
    t0 = timezone.now() - timedelta(minutes=2)
    api_client.post("/api/v1/traces", {"traces": [a_turn(first, t0, "How do I reset my password?")]}, format="json")
    later = a_turn(again, t0 + timedelta(seconds=14), "How do I reset my password?")
    assert api_client.post("/api/v1/traces", {"traces": [later]}, format="json").json()["accepted"] == 1

    assert wait_for(lambda: Feedback.objects.filter(project=project, kind="regenerate").exists(), seconds=30)
    row = Feedback.objects.get(project=project, kind="regenerate")
    earlier = Trace.objects.get(project=project, trace_id=first)
    assert (row.trace_id, row.trace_pk, row.source) == (first, earlier.pk, "inferred")
    assert row.reason == "same input 12 s later"  # counted from the earlier answer (it ended 2 s after its start)
    assert Score.objects.get(trace=earlier, name="regenerated", source="feedback").value == 1.0
    listed = api_client.get(f"/api/v1/traces/{first}").json()["feedback"]
    assert [(f["kind"], f["source"]) for f in listed] == [("regenerate", "inferred")]
    # The later turn itself got no signal: nobody reacted to its answer yet.
    assert not Feedback.objects.filter(project=project, trace_id=again).exists()


def test_the_abandon_sweep_records_a_session_that_went_quiet_once_and_an_explicit_abandon_wins(project, api_client):
    quiet, explicit = new_trace_id(), new_trace_id()
    t0 = timezone.now() - timedelta(minutes=31)
    api_client.post(
        "/api/v1/traces",
        {
            "traces": [
                a_turn(quiet, t0, "Which plan fits a team of 5?", "quiet"),
                a_turn(explicit, t0, "Cancel my order", "told"),
            ]
        },  # fmt: skip
        format="json",
    )
    api_client.post("/api/v1/feedback", {"trace_id": explicit, "kind": "abandon"}, format="json")

    assert feedback_abandon_sweep() == 1
    assert feedback_abandon_sweep() == 0  # idempotent
    row = Feedback.objects.get(project=project, kind="abandon", source="inferred")
    assert row.trace_id == quiet
    assert list(Feedback.objects.filter(trace_id=explicit).values_list("source", flat=True)) == ["explicit"]


def test_a_session_still_inside_its_window_is_not_abandoned(project, api_client):
    api_client.post(
        "/api/v1/traces",
        {"traces": [a_turn(new_trace_id(), timezone.now() - timedelta(minutes=5), "Hi, what can you do?")]},
        format="json",
    )
    assert feedback_abandon_sweep() == 0
