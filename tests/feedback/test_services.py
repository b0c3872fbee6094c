"""Feedback services: inferred signals recorded once, explicit abandon wins, linking, scores, the unlinked list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.feedback.models import Feedback
from apps.feedback.selectors import feedback_unlinked_list
from apps.feedback.services import feedback_create, feedback_inferred_record, feedback_link, feedback_link_sweep
from apps.scores.models import Score
from apps.traces.models import Trace
from apps.traces.selectors import TraceFilters, trace_list
from apps.traces.services import traces_ensure
from tests.traces.factories import new_trace_id, simple_trace

pytestmark = pytest.mark.django_db


def infer(trace: Trace, kind: str, reason: str = "same input 14 s later") -> bool:
    return feedback_inferred_record(
        project_id=trace.project_id,
        trace_pk=trace.pk,
        trace_id=trace.trace_id,
        kind=kind,
        reason=reason,
        occurred_at=timezone.now(),
    )


def test_an_inferred_signal_is_recorded_once_and_scored(project):
    trace = simple_trace(project, route="chat")
    assert infer(trace, "regenerate") is True
    assert infer(trace, "regenerate", reason="same input 15 s later") is False  # a detector re-run
    row = Feedback.objects.get(project=project)
    assert (row.source, row.kind, row.trace_pk, row.reason) == (
        "inferred",
        "regenerate",
        trace.pk,
        "same input 14 s later",
    )
    score = Score.objects.get(trace=trace, source="feedback")
    assert (score.name, score.value, score.passed, score.route) == ("regenerated", 1.0, False, "chat")
    assert score.explanation == "same input 14 s later"
    trace.refresh_from_db()
    assert trace.has_feedback


def test_an_inferred_kind_must_be_inferable(project):
    trace = simple_trace(project)
    with pytest.raises(ValueError, match="kind"):
        infer(trace, "thumbs_down")


def test_explicit_abandon_wins_over_inferred(project):
    first, second = simple_trace(project), simple_trace(project)
    # Explicit first: the detector's abandon is not recorded.
    feedback_create(project=project, items=[{"trace_id": first.trace_id, "kind": "abandon"}])
    assert infer(first, "abandon") is False
    # Inferred first: an explicit abandon arriving later removes it.
    assert infer(second, "abandon") is True
    feedback_create(project=project, items=[{"trace_id": second.trace_id, "kind": "abandon", "comment": "closed tab"}])
    rows = Feedback.objects.filter(kind="abandon").values_list("trace_id", "source")
    assert sorted(rows) == sorted([(first.trace_id, "explicit"), (second.trace_id, "explicit")])
    assert Score.objects.get(trace=second, name="abandoned").explanation == "closed tab"
    # Other inferred kinds are not affected by an explicit abandon.
    assert infer(second, "rephrase") is True


def test_feedback_before_its_trace_links_when_the_trace_comes(project):
    tid = new_trace_id()
    feedback_create(project=project, items=[{"trace_id": tid, "kind": "thumbs_down"}])
    assert feedback_link(project=project) == 0  # no trace yet: nothing happens
    trace = simple_trace(project, trace_id=tid)
    assert feedback_link(project=project, trace_pks=[trace.pk]) == 1  # what an ingest batch runs
    assert Feedback.objects.get().trace_pk == trace.pk
    assert Score.objects.get(trace=trace, name="thumbs_down").value == 1.0
    assert list(trace_list(project=project, filters=TraceFilters(has_feedback=True))) == [trace]
    assert list(trace_list(project=project, filters=TraceFilters(has_feedback=False))) == []


def test_the_sweep_links_traces_made_outside_ingest_batches(project, django_assert_max_num_queries):
    tid = new_trace_id()
    feedback_create(project=project, items=[{"trace_id": tid, "kind": "rating", "value": 1}])
    pks = traces_ensure(project=project, started={tid: timezone.now()})  # e.g. a score's placeholder trace
    assert feedback_link_sweep() == 1
    assert Feedback.objects.get().trace_pk == pks[tid]
    assert Score.objects.get(trace_id=pks[tid], name="rating").value == 1.0
    with django_assert_max_num_queries(2):  # nothing left waiting: two cheap queries
        assert feedback_link_sweep() == 0


def test_feedback_on_another_projects_trace_is_not_linked(project, alice):
    from apps.projects.services import project_create

    other = project_create(name="Other", owner=alice)
    trace = simple_trace(other)
    feedback_create(project=project, items=[{"trace_id": trace.trace_id, "kind": "thumbs_up"}])
    assert Feedback.objects.get().trace_pk is None
    assert feedback_link_sweep() == 0


def test_the_unlinked_list_shows_ids_past_the_grace_period(project, settings):
    settings.FEEDBACK_UNLINKED_GRACE_SECONDS = 3600
    old, recent = new_trace_id(), new_trace_id()
    feedback_create(
        project=project,
        items=[
            {"trace_id": old, "kind": "thumbs_down"},
            {"trace_id": old, "kind": "rating", "value": 2},
            {"trace_id": recent, "kind": "thumbs_up"},
        ],
    )
    Feedback.objects.filter(trace_id=old).update(created_at=timezone.now() - timedelta(hours=2))
    rows = feedback_unlinked_list(project=project)
    assert [(r.trace_id, r.count, r.kinds) for r in rows] == [(old, 2, ["rating", "thumbs_down"])]
    simple_trace(project, trace_id=old)
    feedback_link(project=project)
    assert feedback_unlinked_list(project=project) == []
