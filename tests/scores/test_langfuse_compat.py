"""Langfuse SDK compatibility, server side: requests shaped exactly as the SDK (v3, OTLP-based) sends them.

The `langfuse` package itself is not installed here; a test driving the real SDK against a live server should
join these (see the report of the branch that added them).
"""

from __future__ import annotations

import base64
import json

import pytest

from apps.projects.services import api_key_create
from apps.scores.models import Score
from apps.traces.models import Span, Trace
from tests.support.otlp import protobuf_body, record_spans
from tests.traces.factories import rag_trace

pytestmark = pytest.mark.django_db

PB = "application/x-protobuf"


def basic(secret: str, public: str = "pk-lf-1234567890") -> str:
    """The Authorization header Langfuse's SDK sends: Basic base64(public_key:secret_key)."""
    return "Basic " + base64.b64encode(f"{public}:{secret}".encode()).decode()


def sdk_headers(secret: str, public: str = "pk-lf-1234567890") -> dict[str, str]:
    """Every header the Langfuse Python SDK's exporter adds."""
    return {
        "HTTP_AUTHORIZATION": basic(secret, public),
        "HTTP_X_LANGFUSE_SDK_NAME": "python",
        "HTTP_X_LANGFUSE_SDK_VERSION": "3.2.1",
        "HTTP_X_LANGFUSE_PUBLIC_KEY": public,
    }


def langfuse_generation(tracer) -> None:
    """Spans as the Langfuse SDK's @observe / start_as_current_generation record them."""
    with tracer.start_as_current_span(
        "handle-question",
        attributes={
            "langfuse.observation.type": "span",
            "langfuse.trace.name": "support question",
            "langfuse.user.id": "user-7",
            "langfuse.session.id": "sess-3",
            "langfuse.observation.input": json.dumps({"question": "Where is my invoice?"}),
        },
    ):
        with tracer.start_as_current_span(
            "llm-call",
            attributes={
                "langfuse.observation.type": "generation",
                "langfuse.observation.model.name": "gpt-4o-mini",
                "langfuse.observation.input": json.dumps([{"role": "user", "content": "Where is my invoice?"}]),
                "langfuse.observation.output": json.dumps({"role": "assistant", "content": "Billing → Invoices."}),
                "langfuse.observation.usage_details": json.dumps({"input": 12, "output": 4}),
            },
        ):
            pass


def test_the_sdks_otlp_export_with_basic_auth_is_stored(client, api_key, project):
    spans = record_spans(
        langfuse_generation, resource={"service.name": "support-bot", "telemetry.sdk.language": "python"}
    )
    response = client.post(
        "/api/public/otel/v1/traces", data=protobuf_body(spans), content_type=PB, **sdk_headers(api_key)
    )
    assert response.status_code == 200, response.content
    trace = Trace.objects.get(project=project)
    assert trace.name == "support question" and trace.user_id == "user-7" and trace.session_id == "sess-3"
    generation = Span.objects.get(trace=trace, name="llm-call")
    assert generation.kind == "llm" and generation.input_tokens == 12


def test_the_public_key_is_ignored_and_bearer_also_works(client, api_key, project):
    body = protobuf_body(record_spans(langfuse_generation))
    assert (
        client.post(
            "/api/public/otel/v1/traces", data=body, content_type=PB, **sdk_headers(api_key, "anything")
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/api/public/otel/v1/traces", data=body, content_type=PB, HTTP_AUTHORIZATION=f"Bearer {api_key}"
        ).status_code
        == 200
    )
    assert Trace.objects.filter(project=project).count() == 1  # the same spans twice: stored once


@pytest.mark.parametrize(
    "header",
    [
        basic("sl_w_not-a-real-key-at-all-000000"),
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic %%%not-base64",
        "",
    ],
)
def test_bad_credentials_are_401_in_otlp_form_with_a_basic_challenge(client, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    body = protobuf_body(record_spans(langfuse_generation))
    response = client.post("/api/public/otel/v1/traces", data=body, content_type=PB, **extra)
    assert response.status_code == 401
    assert response["Content-Type"] == PB and response["WWW-Authenticate"].startswith("Basic")


def test_a_read_only_secret_cannot_ingest(client, project):
    read_key = api_key_create(project=project, name="r", scope="read").plaintext
    body = protobuf_body(record_spans(langfuse_generation))
    assert (
        client.post("/api/public/otel/v1/traces", data=body, content_type=PB, **sdk_headers(read_key)).status_code
        == 403
    )


def post_score(client, secret, body):
    return client.post(
        "/api/public/scores", data=json.dumps(body), content_type="application/json", **sdk_headers(secret)
    )


@pytest.mark.parametrize(
    ("value", "data_type", "expected"),
    [
        (0.75, "NUMERIC", {"value": 0.75, "label": "", "passed": None}),
        (1, "BOOLEAN", {"value": 1.0, "label": "", "passed": True}),
        (0, "BOOLEAN", {"value": 0.0, "label": "", "passed": False}),
        ("partially correct", "CATEGORICAL", {"value": None, "label": "partially correct", "passed": None}),
        ("helpful", None, {"value": None, "label": "helpful", "passed": None}),
    ],
)
def test_create_score_becomes_an_external_score(client, api_key, project, value, data_type, expected):
    trace = rag_trace(project)
    llm = trace.spans.filter(kind="llm").first()
    body = {
        "id": "a3c1e2b4-0000-4000-8000-000000000001",
        "traceId": trace.trace_id,
        "observationId": llm.span_id,
        "name": "correctness",
        "value": value,
        "comment": "checked against the reference",
    }
    if data_type:
        body["dataType"] = data_type
    response = post_score(client, api_key, body)
    assert response.status_code == 200, response.content
    assert response.json() == {"id": body["id"]}
    score = Score.objects.get(trace=trace, name="correctness")
    assert (score.source, score.span_id, score.explanation) == (
        "external",
        llm.span_id,
        "checked against the reference",
    )
    assert {"value": score.value, "label": score.label, "passed": score.passed} == expected


def test_create_score_for_a_trace_not_stored_yet_is_accepted_and_kept_pending(client, api_key, project):
    from apps.feedback.models import Feedback

    response = post_score(client, api_key, {"traceId": "f" * 32, "name": "x", "value": 1})
    assert response.status_code == 200
    assert Feedback.objects.get(project=project, trace_id="f" * 32).kind == "score"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "value": 1}, "traceId"),
        ({"traceId": "zz", "name": "x", "value": 1}, "traceId"),
        ({"traceId": "a" * 32, "name": "has spaces", "value": 1}, "name"),
        ({"traceId": "a" * 32, "name": "x", "value": 1, "dataType": "VECTOR"}, "dataType"),
        ({"traceId": "a" * 32, "name": "x", "value": 2, "dataType": "BOOLEAN"}, "value"),
        ({"traceId": "a" * 32, "name": "x", "value": "high", "dataType": "NUMERIC"}, "value"),
        ({"traceId": "a" * 32, "observationId": "short", "name": "x", "value": 1}, "observationId"),
    ],
)
def test_bad_scores_are_400_naming_the_field(client, api_key, project, body, field):
    response = post_score(client, api_key, body)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field


def test_scores_need_a_valid_key(client, project):
    assert (
        post_score(client, "sl_w_wrong-wrong-wrong-wrong", {"traceId": "a" * 32, "name": "x", "value": 1}).status_code
        == 401
    )


def test_the_sdks_ingestion_batch_turns_score_create_events_into_scores(client, api_key, project):
    trace = rag_trace(project)
    batch = {
        "batch": [
            {
                "id": "evt-1",
                "type": "score-create",
                "timestamp": "2026-11-27T10:00:00.000Z",
                "body": {
                    "id": "s-1",
                    "traceId": trace.trace_id,
                    "name": "helpfulness",
                    "value": 4,
                    "dataType": "NUMERIC",
                },
            },
            {"id": "evt-2", "type": "trace-create", "timestamp": "2026-11-27T10:00:00.000Z", "body": {"id": "t"}},
            {
                "id": "evt-3",
                "type": "score-create",
                "timestamp": "2026-11-27T10:00:00.000Z",
                "body": {"id": "s-3", "traceId": "e" * 32, "name": "helpfulness", "value": 1},
            },
        ],
        "metadata": {"sdk_name": "python", "sdk_version": "3.2.1"},
    }
    response = client.post(
        "/api/public/ingestion", data=json.dumps(batch), content_type="application/json", **sdk_headers(api_key)
    )
    assert response.status_code == 207
    data = response.json()
    assert data["successes"] == [{"id": "evt-1", "status": 201}, {"id": "evt-3", "status": 201}]  # evt-3: pending
    assert {(e["id"], e["status"]) for e in data["errors"]} == {("evt-2", 400)}
    assert Score.objects.get(trace=trace, name="helpfulness").value == 4.0
