"""Routing end to end with a real Celery worker: ingest → evaluators → scores → routing; feedback routes too."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from apps.evaluators.models import Evaluator
from apps.review.models import ReviewItem, RoutingRule
from apps.review.services import RuleSpec
from tests.review.factories import only_rules, score
from tests.traces.factories import simple_trace

pytestmark = pytest.mark.django_db(transaction=True)
K = RoutingRule.Kind


def wait_for(check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the worker")


def reasons(trace) -> list[str]:
    item = ReviewItem.objects.filter(trace_pk=trace.pk).first()
    return item.reason_texts if item else []


def test_rules_route_traces_as_scores_and_feedback_arrive(project, celery_worker):
    only_rules(
        project,
        RuleSpec(kind=K.CHECK_FAILED, score_name="not_empty", priority=70),
        RuleSpec(kind=K.NEGATIVE_FEEDBACK, priority=90),
    )
    empty = simple_trace(project, output_text="")
    fine = simple_trace(project, output_text="Refunds take five days.")
    # The worker scores the batch with the default evaluators; not_empty fails and routing follows.
    wait_for(lambda: reasons(empty) == ["check not_empty failed"])
    item = ReviewItem.objects.get(trace_pk=empty.pk)
    assert (item.priority, item.status, item.trace_id) == (70, "pending", empty.trace_id)

    # Feedback scores (as apps/feedback writes them) route too, adding reasons to a queued trace.
    score(project, fine, "thumbs_down", "feedback", 1.0)
    score(project, empty, "rating", "feedback", 1.0)
    wait_for(lambda: reasons(fine) == ["thumbs down"] and len(reasons(empty)) == 2)
    assert reasons(empty) == ["check not_empty failed", "rating 1"]
    assert ReviewItem.objects.get(trace_pk=empty.pk).priority == 90
    assert ReviewItem.objects.filter(project=project).count() == 2  # each trace entered once


def test_the_random_sample_reaches_traces_that_get_no_scores(project, celery_worker):
    Evaluator.objects.filter(project=project).update(is_enabled=False)
    only_rules(project, RuleSpec(kind=K.RANDOM_SAMPLE, sample_percent=100.0, priority=10))
    trace = simple_trace(project)
    wait_for(lambda: reasons(trace) == ["random 100% sample"])
    assert not trace.scores.exists()
