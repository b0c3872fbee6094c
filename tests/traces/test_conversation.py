"""The trace page leads with the conversation gathered from all spans, then the failing scores."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apps.scores.services import ScoreInput, scores_upsert
from apps.traces.selectors import CONVERSATION_COLLAPSE_CHARS, trace_conversation
from apps.traces.services import spans_ingest
from tests.traces.factories import new_trace_id, rag_trace, simple_trace, span

pytestmark = pytest.mark.django_db


def sdk_shaped_trace(project, *, answer: str = "Open Settings → Security.", long_doc: str = ""):
    """Content on child spans, an empty root: what OpenAI/OpenInference instrumentation sends."""
    from apps.traces.models import Trace

    tid = new_trace_id()
    root = span(tid, span_id="a" * 16, start_ms=0, duration_ms=900, name="POST /chat", kind="other", is_root=True)
    retrieval = span(
        tid,
        parent_span_id="a" * 16,
        start_ms=10,
        duration_ms=50,
        name="retrieve",
        kind="retrieval",
        retrieval_query="reset password",
        documents=[{"id": "kb-1", "score": 0.9, "content": long_doc or "Settings → Security has the reset."}],
    )
    llm = span(
        tid,
        parent_span_id="a" * 16,
        start_ms=100,
        duration_ms=700,
        name="chat gpt-4o-mini",
        kind="llm",
        input_messages=[
            {"role": "system", "parts": [{"type": "text", "content": "Answer from the help center only."}]},
            {"role": "user", "parts": [{"type": "text", "content": "How do I reset my password?"}]},
        ],
        output_messages=[{"role": "assistant", "parts": [{"type": "text", "content": answer}]}],
    )
    spans_ingest(project=project, spans=[root, retrieval, llm])
    return Trace.objects.get(project=project, trace_id=tid)


def test_conversation_gathers_the_child_spans_content_in_time_order(project):
    trace = sdk_shaped_trace(project)
    conversation = trace_conversation(trace=trace)
    assert conversation.system == "Answer from the help center only."
    assert [(e.kind, e.role) for e in conversation.entries] == [
        ("retrieval", ""),
        ("message", "user"),
        ("message", "assistant"),
    ]
    assert conversation.entries[0].documents[0]["id"] == "kb-1"
    assert conversation.entries[-1].is_answer and not conversation.entries[1].is_answer


def test_conversation_of_an_agent_shows_each_turn_once_and_the_tool_result(project):
    trace = rag_trace(project)
    entries = trace_conversation(trace=trace).entries
    messages = [e for e in entries if e.kind == "message"]
    texts = [json.dumps(e.message) for e in messages]
    # The second LLM call repeats the user turn: shown once; its tool result and the final answer follow.
    assert sum('How do I reset my password?"' in t for t in texts) == 1
    assert any("tool_call_response" in t for t in texts)
    assert messages[-1].is_answer and "Open Settings" in texts[-1]
    # The tool span's result already shows as a tool message: no duplicate tool entry.
    assert [e for e in entries if e.kind == "tool"] == []


def test_conversation_falls_back_to_the_traces_text(project):
    trace = simple_trace(project, input_text="hi there", output_text="hello!")
    entries = trace_conversation(trace=trace).entries
    assert [(e.role, e.message["parts"][0]["content"]) for e in entries] == [
        ("user", "hi there"),
        ("assistant", "hello!"),
    ]
    assert entries[-1].is_answer


def test_a_long_message_is_marked_for_collapsing(project):
    trace = sdk_shaped_trace(project, answer="x" * (CONVERSATION_COLLAPSE_CHARS + 1))
    assert trace_conversation(trace=trace).entries[-1].is_long


def test_trace_page_leads_with_the_conversation_then_failing_scores_then_spans(client, alice, project):
    trace = sdk_shaped_trace(project, long_doc="<script>alert(1)</script> a long document")
    scores_upsert(
        project=project,
        items=[
            ScoreInput(
                trace_pk=trace.id,
                name="groundedness",
                source="judge",
                value=0.2,
                passed=False,
                explanation="The answer cites no retrieved document.",
            ),
            ScoreInput(trace_pk=trace.id, name="toxicity", source="programmatic", value=0.0, passed=True),
        ],
    )
    client.force_login(alice)
    html = client.get(reverse("traces:detail", args=[project.slug, trace.trace_id])).content.decode()
    conversation = html.index('data-testid="conversation"')
    failing = html.index('data-testid="failing-scores"')
    waterfall = html.index('data-testid="waterfall"')
    assert conversation < failing < waterfall
    section = html[conversation:failing]
    assert "Answer from the help center only." in section and "How do I reset my password?" in section
    assert "Open Settings → Security." in section and "reset password" in section
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section and "<script>alert" not in html
    failing_section = html[failing:waterfall]
    assert "groundedness" in failing_section and "The answer cites no retrieved document." in failing_section
    assert "toxicity" not in failing_section
    assert f'data-copy="{trace.trace_id}"' in html


def test_a_page_without_failing_scores_has_no_failing_section(client, alice, project):
    trace = sdk_shaped_trace(project)
    client.force_login(alice)
    html = client.get(reverse("traces:detail", args=[project.slug, trace.trace_id])).content.decode()
    assert 'data-testid="failing-scores"' not in html


def test_span_json_view_returns_the_raw_attributes(client, alice, carol, project):
    trace = rag_trace(project)
    llm = trace.spans.filter(kind="llm").order_by("started_at").first()
    url = reverse("traces:span-json", args=[project.slug, trace.trace_id, llm.span_id])
    client.force_login(alice)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json()["attributes"]["llm.custom"] == "x"
    assert response.json()["span_id"] == llm.span_id
    assert client.get(reverse("traces:span-json", args=[project.slug, trace.trace_id, "0" * 16])).status_code == 404
    client.force_login(carol)
    assert client.get(url).status_code == 404
