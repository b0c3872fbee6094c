"""Reads of scores: what trace lists and evaluator figures get from the scores app."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.evaluators.selectors import evaluator_pass_rates
from apps.scores.selectors import failed_score_names, trace_scores
from apps.scores.services import ScoreInput, scores_upsert
from apps.traces.models import Trace
from apps.traces.selectors import trace_score_list, traces_with_failed_scores
from apps.traces.services import traces_ensure

pytestmark = pytest.mark.django_db


def _trace_pk(project) -> int:
    return traces_ensure(project=project, started={"ab" * 16: timezone.now()})["ab" * 16]


def test_evaluator_figures_count_only_what_evaluators_wrote(project):
    pk = _trace_pk(project)
    scores_upsert(
        project=project,
        items=[
            ScoreInput(trace_pk=pk, name="refusal", source=source, passed=passed, evaluator_version="v1")
            for source, passed in [("programmatic", True), ("offline", False), ("human", False), ("external", False)]
        ],
    )
    assert evaluator_pass_rates(project=project)["refusal@v1"] == {"count": 1, "pass_rate": 1.0, "mean": None}


def test_trace_pages_read_scores_through_the_scores_app(project):
    pk = _trace_pk(project)
    scores_upsert(
        project=project,
        items=[
            ScoreInput(trace_pk=pk, name="tone", source="human", passed=False),
            ScoreInput(trace_pk=pk, name="refusal", source="programmatic", passed=True),
        ],
    )
    trace = Trace.objects.get(pk=pk)
    assert failed_score_names(trace_pks=[pk]) == {pk: ["tone"]}
    assert [t.failed_scores for t in traces_with_failed_scores(traces=[trace])] == [["tone"]]
    assert [(s.name, s.source) for s in trace_score_list(trace=trace)] == [
        ("refusal", "programmatic"),
        ("tone", "human"),
    ]
    assert list(trace_score_list(trace=trace)) == list(trace_scores(trace=trace))
