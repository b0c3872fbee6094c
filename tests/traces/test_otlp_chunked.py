"""Chunked request bodies (`Transfer-Encoding: chunked`, no Content-Length) on every ingest endpoint.

gunicorn de-chunks, so a chunked body must be read in full and stored; Django's development/test server
does not, so there the body cannot be read and the answer is 411 — never a 2xx for a body nobody read.
"""

from __future__ import annotations

import json

import pytest
import requests

from apps.scores.models import Score
from apps.traces.models import PendingSpanContent, Span, Trace
from tests.support.otlp import genai_request, json_body, protobuf_body, record_spans

pytestmark = pytest.mark.django_db(transaction=True)

TRACE_HEX = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_HEX = "00f067aa0ba902b7"


def chunked(body: bytes) -> object:
    """A generator body: requests sends it with Transfer-Encoding: chunked and no Content-Length."""
    return iter([body[: len(body) // 2], body[len(body) // 2 :]])


def logs_body() -> bytes:
    """An OTLP/JSON logs request: one GenAI content event for a span that has not arrived yet."""
    messages = [{"role": "user", "parts": [{"type": "text", "content": "chunked question"}]}]
    record = {
        "timeUnixNano": "1700000000000000000",
        "traceId": TRACE_HEX,
        "spanId": SPAN_HEX,
        "attributes": [
            {"key": "event.name", "value": {"stringValue": "gen_ai.client.inference.operation.details"}},
            {"key": "gen_ai.input.messages", "value": {"stringValue": json.dumps(messages)}},
        ],
    }
    return json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}).encode()


def rest_trace_body() -> bytes:
    trace = {"trace_id": TRACE_HEX, "name": "chunked", "started_at": "2026-11-27T10:00:00Z", "input": "q"}
    return json.dumps({"traces": [trace]}).encode()


def post(url: str, api_key: str, body: bytes, content_type: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": content_type}
    return requests.post(url, data=chunked(body), headers=headers, timeout=30)


@pytest.mark.parametrize(
    ("encode", "content_type"),
    [(protobuf_body, "application/x-protobuf"), (json_body, "application/json")],
    ids=["protobuf", "json"],
)
def test_a_chunked_otlp_traces_body_is_stored_in_full(gunicorn_url, api_key, project, encode, content_type):
    spans = record_spans(genai_request)
    response = post(f"{gunicorn_url}/v1/traces", api_key, encode(spans), content_type)
    assert response.status_code == 200, response.text
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.request.headers
    stored = set(Span.objects.filter(project=project).values_list("span_id", flat=True))
    assert stored == {format(s.context.span_id, "016x") for s in spans}


def test_a_chunked_otlp_logs_body_is_stored(gunicorn_url, api_key, project):
    response = post(f"{gunicorn_url}/v1/logs", api_key, logs_body(), "application/json")
    assert response.status_code == 200, response.text
    pending = PendingSpanContent.objects.get(project=project)
    assert (pending.trace_id, pending.span_id) == (TRACE_HEX, SPAN_HEX)
    assert pending.input_messages[0]["parts"][0]["content"] == "chunked question"


def test_chunked_rest_traces_and_scores_are_stored(gunicorn_url, api_key, project):
    response = post(f"{gunicorn_url}/api/v1/traces", api_key, rest_trace_body(), "application/json")
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1, "rejected": []}
    assert Trace.objects.get(project=project).trace_id == TRACE_HEX

    scores = {"scores": [{"trace_id": TRACE_HEX, "name": "resolution", "value": 1}]}
    response = post(f"{gunicorn_url}/api/v1/scores", api_key, json.dumps(scores).encode(), "application/json")
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    assert Score.objects.get(project=project).name == "resolution"


def test_a_chunked_body_over_the_size_cap_is_413(gunicorn_url, api_key, project, settings):
    big = b"x" * (settings.OTLP_MAX_BODY_BYTES + 1)  # the server reads it to the cap, then refuses
    response = post(f"{gunicorn_url}/v1/traces", api_key, big, "application/x-protobuf")
    assert response.status_code == 413
    assert not Span.objects.filter(project=project).exists()


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/v1/traces", protobuf_body(record_spans(genai_request)), "application/x-protobuf"),
        ("/v1/logs", logs_body(), "application/json"),
        ("/api/v1/traces", rest_trace_body(), "application/json"),
        ("/api/v1/scores", b'{"scores": []}', "application/json"),
    ],
    ids=["otlp-traces", "otlp-logs", "rest-traces", "rest-scores"],
)
def test_a_server_that_cannot_dechunk_answers_411_not_an_empty_success(
    live_server, api_key, project, path, body, content_type
):
    # Django's test server passes a chunked body on as 0 bytes: it was never read, so it is not "empty".
    response = post(f"{live_server.url}{path}", api_key, body, content_type)
    assert response.status_code == 411, response.text
    assert not Span.objects.filter(project=project).exists()
    assert not PendingSpanContent.objects.filter(project=project).exists()
