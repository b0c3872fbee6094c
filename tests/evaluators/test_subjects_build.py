"""subjects_build reads a batch in one round trip: every field evaluators use, as the ORM read it."""

from __future__ import annotations

import json
import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.evaluators.selectors import subjects_build
from apps.scores.models import Score
from apps.scores.services import ScoreInput, scores_upsert
from apps.traces.models import Span
from tests.traces.factories import rag_trace, simple_trace

pytestmark = pytest.mark.django_db


def test_subjects_build_reads_documents_tool_calls_json_requests_and_span_kinds(project):
    rag = rag_trace(project)
    plain = simple_trace(project, output_text="Plain answer.")
    llm = Span.objects.filter(trace=rag, kind="llm").first()
    assert llm is not None
    llm.output_messages = [
        {"role": "assistant", "parts": [{"type": "text", "content": "x"},
                                        {"type": "tool_call", "name": "lookup", "arguments": '{"q": 1}', "id": "c1"}]},
    ]  # fmt: skip
    llm.tool_definitions = [{"type": "function", "name": "lookup"}, "not a dict"]
    llm.request_params = {"response_format": {"type": "json_object"}}
    llm.finish_reasons = ["tool_calls", "stop"]
    llm.save()
    retrieval = Span.objects.filter(trace=rag, kind="retrieval").first()
    assert retrieval is not None and retrieval.documents

    subjects = subjects_build(trace_pks=[rag.id, plain.id, 10**12])

    assert set(subjects) == {rag.id, plain.id}
    subject = subjects[rag.id]
    assert subject.trace_id == rag.trace_id and subject.output == rag.output_text
    assert [d.content for d in subject.documents] == [str(d.get("content") or "") for d in retrieval.documents]
    assert [(c.name, c.arguments, c.id) for c in subject.tool_calls] == [("lookup", '{"q": 1}', "c1")]
    assert subject.tool_definitions == [{"type": "function", "name": "lookup"}]
    assert subject.finish_reason == "stop" and subject.expects_json
    assert {"llm", "retrieval"} <= subject.span_kinds
    assert subject.retrieval_query == retrieval.retrieval_query
    assert not subjects[plain.id].documents and not subjects[plain.id].expects_json
    assert subjects_build(trace_pks=[]) == {}


def test_scores_upsert_sends_rows_as_json_and_replaces_on_conflict(project):
    trace = simple_trace(project, output_text="x")
    items = [
        ScoreInput(trace_pk=trace.id, name="a", source="external", value=float("nan"), label="l", passed=None,
                   explanation="ünïcode ‘quotes’ \\ \" \n 😀", metadata={"k": [1, "two"]}),
        ScoreInput(trace_pk=trace.id, name="b", source="external", value=float("inf"), passed=True),
        ScoreInput(trace_pk=trace.id, name="c", source="external", value=None, passed=False, label="x" * 150),
        ScoreInput(trace_pk=trace.id, name="c", source="external", value=0.1 + 0.2, passed=False),  # the last wins
    ]  # fmt: skip
    with CaptureQueriesContext(connection):
        assert scores_upsert(project=project, items=items) == 3
    rows = {s.name: s for s in Score.objects.filter(trace=trace)}
    assert math.isnan(rows["a"].value) and rows["a"].passed is None
    assert rows["a"].explanation == 'ünïcode ‘quotes’ \\ " \n 😀' and rows["a"].metadata == {"k": [1, "two"]}
    assert rows["b"].value == float("inf") and rows["b"].passed is True
    assert rows["c"].value == 0.1 + 0.2 and rows["c"].label == "" and rows["c"].metadata == {}
    assert (rows["a"].route, rows["a"].trace_started_at) == (trace.route, trace.started_at)
    # Another project's trace is never written.
    other = ScoreInput(trace_pk=trace.id, name="d", source="external", value=1.0)
    assert scores_upsert(project=type(project)(id=project.id + 999), items=[other]) == 0
    assert json.dumps(rows["a"].metadata) == '{"k": [1, "two"]}'
