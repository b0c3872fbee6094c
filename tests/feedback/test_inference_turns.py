"""A session's turns read from traces stored through the REST API: order, the user's last message, scoping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.projects.services import project_create
from apps.traces.models import Trace
from apps.traces.selectors import session_turn_list

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def a_trace(n: int, at: float, *, session: str = "sess-1", **fields) -> dict:
    started = T0 + timedelta(seconds=at)
    return {
        "trace_id": f"{n:032x}",
        "name": f"turn {n}",
        "session_id": session,
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(seconds=2)).isoformat(),
        **fields,
    }


def llm_span(n: int, at: float, messages: list[dict], span: int = 1) -> dict:
    started = T0 + timedelta(seconds=at)
    return {
        "span_id": f"{n:08x}{span:08x}",
        "kind": "llm",
        "name": "chat",
        "model": "gpt-4o-2024-08-06",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(seconds=1)).isoformat(),
        "input": messages,
        "output": [{"role": "assistant", "content": "an answer"}],
    }


def ingest(api_client, *traces: dict) -> None:
    response = api_client.post("/api/v1/traces", {"traces": list(traces)}, format="json")
    assert response.status_code == 200 and response.json()["accepted"] == len(traces), response.json()


def test_turns_are_in_start_order_whatever_the_arrival_order(api_client, project):
    ingest(api_client, a_trace(3, 60, input="third"), a_trace(1, 0, input="first"))
    ingest(api_client, a_trace(2, 30, input="second"))
    turns = session_turn_list(project_id=project.id, session_id="sess-1")
    assert [t.user_text for t in turns] == ["first", "second", "third"]
    assert [t.trace_id for t in turns] == [f"{n:032x}" for n in (1, 2, 3)]
    assert turns[0].ended_at - turns[0].started_at == timedelta(seconds=2)
    assert turns[0].trace_pk == Trace.objects.get(trace_id=f"{1:032x}").pk


def test_the_turn_is_the_last_user_message_of_a_multi_turn_history(api_client, project):
    history = [
        {"role": "system", "content": "You are a support bot."},
        {"role": "user", "content": "Where is my order?"},
        {"role": "assistant", "content": "It shipped yesterday."},
        {"role": "user", "content": "Can I change the delivery address?"},
    ]
    ingest(api_client, a_trace(1, 0, spans=[llm_span(1, 0.1, history)]))
    [turn] = session_turn_list(project_id=project.id, session_id="sess-1")
    assert turn.user_text == "Can I change the delivery address?"


def test_an_agent_loops_tool_traffic_does_not_replace_the_users_message(api_client, project):
    first = [{"role": "user", "content": "What is the weather in Paris?"}]
    second = [
        *first,
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                                              "function": {"name": "weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "18 C, sunny"},
    ]  # fmt: skip
    ingest(api_client, a_trace(1, 0, spans=[llm_span(1, 0.1, first, span=1), llm_span(1, 0.5, second, span=2)]))
    [turn] = session_turn_list(project_id=project.id, session_id="sess-1")
    assert turn.user_text == "What is the weather in Paris?"


def test_a_trace_with_no_user_message_is_not_a_user_turn(api_client, project):
    # A background call in the session: the trace's input text falls back to the system prompt, the turn does not.
    ingest(api_client, a_trace(1, 0, spans=[llm_span(1, 0.1, [{"role": "system", "content": "Summarize the day"}])]))
    [turn] = session_turn_list(project_id=project.id, session_id="sess-1")
    assert Trace.objects.get().input_text == "Summarize the day"
    assert turn.user_text == ""


def test_a_trace_without_messages_has_an_empty_turn(api_client, project):
    ingest(api_client, a_trace(1, 0))
    [turn] = session_turn_list(project_id=project.id, session_id="sess-1")
    assert turn.user_text == ""


def test_turns_belong_to_one_session_of_one_project(api_client, project, alice):
    ingest(api_client, a_trace(1, 0, input="mine"), a_trace(2, 5, input="other session", session="sess-2"))
    other = project_create(name="Other", owner=alice)
    Trace.objects.create(project=other, trace_id=f"{9:032x}", session_id="sess-1", started_at=T0, input_text="theirs")
    assert [t.user_text for t in session_turn_list(project_id=project.id, session_id="sess-1")] == ["mine"]
    assert session_turn_list(project_id=project.id, session_id="") == []


def test_since_and_limit_bound_the_read(api_client, project):
    ingest(api_client, *(a_trace(n, n * 60, input=f"q{n}") for n in range(1, 6)))
    since = T0 + timedelta(seconds=150)
    assert [t.user_text for t in session_turn_list(project_id=project.id, session_id="sess-1", since=since)] == [
        "q3",
        "q4",
        "q5",
    ]
    assert [t.user_text for t in session_turn_list(project_id=project.id, session_id="sess-1", limit=2)] == ["q4", "q5"]


def test_plain_text_input_without_messages_falls_back_to_the_traces_input(project):
    # OpenInference chains carry input.value as text, stored without messages: the trace's input stands in.
    from apps.traces.models import Span

    trace = Trace.objects.create(
        project=project, trace_id=f"{7:032x}", session_id="sess-1", started_at=T0, input_text="plain question"
    )
    Span.objects.create(
        project=project, trace=trace, span_id="a" * 16, is_root=True, kind="chain", started_at=T0, ended_at=T0,
        input_text="plain question",
    )  # fmt: skip
    [turn] = session_turn_list(project_id=project.id, session_id="sess-1")
    assert turn.user_text == "plain question"


def otel_agent_turn(tracer, question: str, *, history: list[dict] | None = None) -> None:
    """One agent request as an OTel GenAI SDK records it: a root span, then two chat calls around a tool call."""
    import json

    def parts(role: str, text: str) -> dict:
        return {"role": role, "parts": [{"type": "text", "content": text}]}

    first = [parts("system", "You are a support agent."), *(history or []), parts("user", question)]
    second = [
        *first,
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "lookup", "arguments": {}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "order 4471 shipped"}]},
    ]
    with tracer.start_as_current_span("invoke_agent support", attributes={"session.id": "otel-1"}):
        for messages in (first, second):
            with tracer.start_as_current_span(
                "chat gpt-4o",
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.input.messages": json.dumps(messages),
                    "gen_ai.output.messages": json.dumps([parts("assistant", "It shipped.")]),
                },
            ):
                pass


def test_turns_of_an_otel_agent_session_are_the_users_messages(client, api_key, project):
    from tests.support.otlp import protobuf_body, record_spans

    def build(tracer):
        otel_agent_turn(tracer, "Where is my order?")
        otel_agent_turn(
            tracer,
            "Can I change the delivery address?",
            history=[
                {"role": "user", "parts": [{"type": "text", "content": "Where is my order?"}]},
                {"role": "assistant", "parts": [{"type": "text", "content": "It shipped."}]},
            ],
        )

    response = client.post(
        "/v1/traces",
        data=protobuf_body(record_spans(build)),
        content_type="application/x-protobuf",
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )
    assert response.status_code == 200
    turns = session_turn_list(project_id=project.id, session_id="otel-1")
    assert [t.user_text for t in turns] == ["Where is my order?", "Can I change the delivery address?"]
