"""Content that arrives twice, under OTel GenAI and OpenInference attributes, is stored once.

And the trace page, the API and the raw JSON view still show everything that arrived.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from apps.traces.models import Span
from apps.traces.normalize import normalize_span
from apps.traces.normalize.fold import FOLDED_ATTR, REF_KEY
from tests.traces.test_normalize import TRACE_ID, make_span

SYSTEM = "Answer from the help center only, and cite the article you used for every claim."
CONTEXT = "Context: to reset a password open Settings, choose Security, then click Reset password."
QUESTION = "How do I reset my password when two-factor login is turned on for the workspace?"
ANSWER = "Open Settings, then Security, and click Reset password; confirm with your second factor. [1]"
DOCS = [
    {"id": "kb-1", "score": 0.91, "content": "Reset password: Settings, Security, Reset password, confirm by email."},
    {"id": "kb-2", "score": 0.74, "content": "Two-factor login: codes from the app or SMS are asked at every login."},
]
PLAIN = [("system", SYSTEM), ("user", CONTEXT), ("user", QUESTION)]
INPUT_VALUE = json.dumps({"messages": [{"role": r, "content": c} for r, c in PLAIN], "model": "gpt-4o"})
OUTPUT_VALUE = json.dumps(
    {"id": "chatcmpl-1", "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}}]}
)


def llm_attributes(oi_answer: str = ANSWER) -> dict[str, Any]:
    """A chat span as an app instrumented twice sends it: gen_ai.* messages and the OpenInference keys."""
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.input.messages": json.dumps([{"role": r, "parts": [{"type": "text", "content": c}]} for r, c in PLAIN]),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}]
        ),
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o",
        "input.value": INPUT_VALUE,
        "input.mime_type": "application/json",
        "output.value": OUTPUT_VALUE,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": oi_answer,
    }
    for i, (role, content) in enumerate(PLAIN):
        attrs[f"llm.input_messages.{i}.message.role"] = role
        attrs[f"llm.input_messages.{i}.message.content"] = content
    return attrs


def retrieval_attributes() -> dict[str, Any]:
    """A retrieval span with its documents in gen_ai.retrieval.documents and in retrieval.documents.*."""
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "retrieval",
        "gen_ai.retrieval.query.text": QUESTION,
        "gen_ai.retrieval.documents": json.dumps(DOCS),
        "openinference.span.kind": "RETRIEVER",
        "input.value": QUESTION,
    }
    for i, doc in enumerate(DOCS):
        for key, value in doc.items():
            attrs[f"retrieval.documents.{i}.document.{key}"] = value
    return attrs


def _texts(span: Any) -> list[str]:
    return [p["content"] for m in span.input_messages + span.output_messages for p in m["parts"]]


def test_llm_span_in_two_conventions_keeps_one_copy_of_each_message() -> None:
    n = normalize_span(make_span(llm_attributes()))
    assert _texts(n) == [SYSTEM, CONTEXT, QUESTION, ANSWER]
    assert not [k for k in n.attributes if k.startswith("llm.input_messages") or k.startswith("llm.output_messages")]
    assert n.attributes[FOLDED_ATTR] == {
        "llm.input_messages.*": "input_messages",
        "llm.output_messages.*": "output_messages",
        "input.value": "raw_input",
        "output.value": "raw_output",
    }
    stored = json.dumps([n.attributes, n.raw_input, n.raw_output, n.events])
    for text in (SYSTEM, CONTEXT, QUESTION, ANSWER):
        assert text not in stored  # each long text is held by the messages alone
    # The raw payloads keep their shape, with references where the texts were.
    assert json.loads(n.raw_input)["messages"][2] == {
        "role": "user",
        "content": {REF_KEY: "input_messages.2.parts.0.content"},
    }
    assert json.loads(n.raw_input)["model"] == "gpt-4o"


def test_messages_that_differ_between_conventions_are_kept_as_they_arrived() -> None:
    n = normalize_span(make_span(llm_attributes(oi_answer="A different answer the other instrumentation saw.")))
    assert n.attributes["llm.output_messages.0.message.content"] == "A different answer the other instrumentation saw."
    assert "llm.output_messages.*" not in n.attributes[FOLDED_ATTR]
    assert n.attributes[FOLDED_ATTR]["llm.input_messages.*"] == "input_messages"  # the same side still folds


def test_retrieval_span_in_two_conventions_keeps_one_copy_of_its_documents() -> None:
    n = normalize_span(make_span(retrieval_attributes()))
    assert [d["content"] for d in n.documents] == [d["content"] for d in DOCS]
    assert not [k for k in n.attributes if k.startswith("retrieval.documents")]
    assert (n.retrieval_query, n.raw_input, n.input_text) == (QUESTION, "", QUESTION)
    assert n.attributes[FOLDED_ATTR] == {"retrieval.documents.*": "documents", "input.value": "retrieval_query"}


def test_one_convention_alone_fills_the_fields_from_its_own_keys() -> None:
    attrs = {k: v for k, v in llm_attributes().items() if not k.startswith("gen_ai.")}
    n = normalize_span(make_span(attrs))
    assert _texts(n) == [SYSTEM, CONTEXT, QUESTION, ANSWER]  # from llm.*_messages, the only source
    # input.value repeats llm.input_messages (one convention, twice): it too is kept with references.
    assert n.attributes[FOLDED_ATTR] == {"input.value": "raw_input", "output.value": "raw_output"}
    only_oi_retrieval = {"openinference.span.kind": "RETRIEVER", "input.value": QUESTION}
    r = normalize_span(make_span(only_oi_retrieval))
    assert (r.raw_input, r.retrieval_query) == (QUESTION, QUESTION)  # the query *is* the raw input
    assert FOLDED_ATTR not in r.attributes


def _post(client: Any, api_key: str, spans: list[Any]) -> None:
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for raw in spans:
        scope_spans.spans.append(raw.span)
    response = client.post(
        "/v1/traces",
        data=request.SerializeToString(),
        content_type="application/x-protobuf",
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_dual_convention_trace_is_stored_once_and_shown_in_full(client, api_key, project, alice) -> None:
    root = bytes.fromhex("1000000000000001")
    retrieval = make_span(retrieval_attributes(), name="retrieve", parent=root, span_id=bytes.fromhex("2" * 16))
    llm = make_span(llm_attributes(), name="chat gpt-4o", parent=root, span_id=bytes.fromhex("3" * 16))
    top = make_span({"gen_ai.operation.name": "invoke_workflow"}, name="answer", parent=b"", span_id=root)
    _post(client, api_key, [top, retrieval, llm])

    rows = {s.name: s for s in Span.objects.filter(project=project)}
    chat, docs = rows["chat gpt-4o"], rows["retrieve"]
    # Stored once: the answer and each document are in their canonical field and nowhere else in the row.
    chat_raw = json.dumps([chat.attributes, chat.raw_input, chat.raw_output, chat.events])
    assert ANSWER not in chat_raw and QUESTION not in chat_raw
    assert chat.output_messages[0]["parts"][0]["content"] == ANSWER
    docs_raw = json.dumps([docs.attributes, docs.raw_input, docs.raw_output])
    assert all(d["content"] not in docs_raw for d in DOCS)
    assert [d["content"] for d in docs.documents] == [d["content"] for d in DOCS]

    # The API shows the whole conversation and the documents.
    trace_hex = TRACE_ID.hex()
    api = client.get(f"/api/v1/traces/{trace_hex}", HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert api.status_code == 200
    spans = {s["name"]: s for s in api.json()["spans"]}
    assert _texts(_Obj(spans["chat gpt-4o"])) == [SYSTEM, CONTEXT, QUESTION, ANSWER]
    assert [d["content"] for d in spans["retrieve"]["documents"]] == [d["content"] for d in DOCS]

    # The trace page shows the conversation.
    client.force_login(alice)
    page = client.get(reverse("traces:detail", args=[project.slug, trace_hex]))
    body = page.content.decode()
    assert page.status_code == 200
    assert all(text in body for text in (QUESTION, ANSWER))

    # The raw JSON view names the folded keys and gives back what arrived.
    raw = client.get(reverse("traces:span-json", args=[project.slug, trace_hex, chat.span_id])).json()
    assert json.loads(raw["folded"]["input.value"]["value"]) == json.loads(INPUT_VALUE)
    assert json.loads(raw["folded"]["output.value"]["value"]) == json.loads(OUTPUT_VALUE)
    assert raw["folded"]["llm.input_messages.*"]["into"] == "input_messages"
    assert raw["folded"]["llm.output_messages.*"]["value"][0]["parts"][0]["content"] == ANSWER
    raw_docs = client.get(reverse("traces:span-json", args=[project.slug, trace_hex, docs.span_id])).json()
    assert raw_docs["folded"]["input.value"] == {"into": "retrieval_query", "value": QUESTION}
    assert [d["content"] for d in raw_docs["folded"]["retrieval.documents.*"]["value"]] == [d["content"] for d in DOCS]


class _Obj:
    """Attribute access over an API span dict (for _texts)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.input_messages = data["input_messages"]
        self.output_messages = data["output_messages"]
