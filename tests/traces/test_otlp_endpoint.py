"""POST /v1/traces end to end: real SDK payloads in, rows and API answers out; every bad input a clear 4xx."""

from __future__ import annotations

import gzip
import json

import pytest
from django.db import connection
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from apps.traces.models import IngestBatch, Span, Trace
from tests.support.otlp import genai_request, json_body, protobuf_body, record_spans

pytestmark = pytest.mark.django_db

PB = "application/x-protobuf"


def post(client, key, body: bytes, content_type: str = PB, **headers):
    return client.post(
        "/v1/traces", data=body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}", **headers
    )


def test_protobuf_from_the_sdk_is_stored_with_its_genai_fields(client, api_key, project):
    spans = record_spans(genai_request)
    response = post(client, api_key, protobuf_body(spans))
    assert response.status_code == 200
    assert response["Content-Type"] == PB
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert not parsed.HasField("partial_success")
    trace = Trace.objects.get(project=project)
    assert (trace.route, trace.prompt_version, trace.environment) == ("/support/chat", "support-v12", "production")
    assert (trace.model, trace.provider) == ("gpt-4o-2024-08-06", "openai")
    assert (trace.input_tokens, trace.output_tokens, trace.total_tokens) == (412, 31, 443)
    assert (trace.user_id, trace.session_id, trace.span_count) == ("user-812", "sess-77", 3)
    assert trace.input_text == "How do I reset my password?"
    assert trace.output_text == "Open Settings → Security [1]."
    llm = Span.objects.get(trace=trace, kind="llm")
    assert llm.input_messages[0]["role"] == "system"
    retrieval = Span.objects.get(trace=trace, kind="retrieval")
    assert retrieval.documents[0]["id"] == "kb-12"


def test_json_encoding_is_accepted_and_answered_in_json(client, api_key, project):
    spans = record_spans(genai_request)
    response = post(client, api_key, json_body(spans), content_type="application/json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {}
    assert Trace.objects.get(project=project).model == "gpt-4o-2024-08-06"


def test_gzip_body_is_accepted(client, api_key, project):
    body = gzip.compress(protobuf_body(record_spans(genai_request)))
    assert post(client, api_key, body, HTTP_CONTENT_ENCODING="gzip").status_code == 200
    assert Span.objects.filter(project=project).count() == 3


def test_the_same_batch_twice_is_stored_once(client, api_key, project):
    body = protobuf_body(record_spans(genai_request))
    assert post(client, api_key, body).status_code == 200
    assert post(client, api_key, body).status_code == 200
    assert Trace.objects.filter(project=project).count() == 1
    assert Span.objects.filter(project=project).count() == 3
    assert Trace.objects.get(project=project).span_count == 3


def test_spans_of_one_trace_in_several_batches_in_any_order_complete_the_trace(client, api_key, project):
    spans = record_spans(genai_request)
    root = next(s for s in spans if s.parent is None)
    children = [s for s in spans if s.parent is not None]
    assert post(client, api_key, protobuf_body(children[1:])).status_code == 200  # the LLM span first
    trace = Trace.objects.get(project=project)
    assert (trace.root_span_id, trace.route, trace.model) == ("", "", "gpt-4o-2024-08-06")  # usable before its root
    assert post(client, api_key, protobuf_body([root])).status_code == 200
    assert post(client, api_key, protobuf_body(children[:1])).status_code == 200
    trace.refresh_from_db()
    assert trace.root_span_id == format(root.context.span_id, "016x")
    assert (trace.name, trace.route, trace.span_count) == ("answer_question", "/support/chat", 3)
    assert trace.started_at.timestamp() == pytest.approx(root.start_time / 1e9, abs=1e-3)


def test_partial_success_keeps_the_good_spans(client, api_key, project):
    spans = record_spans(genai_request)
    data = json.loads(json_body(spans))
    bad = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    bad["spanId"] = "0000000000000000"
    response = post(client, api_key, json.dumps(data).encode(), content_type="application/json")
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "span_id" in partial["errorMessage"] or "zero" in partial["errorMessage"]
    assert Span.objects.filter(project=project).count() == 2


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status", "needle"),
    [
        (b"\x0a\xff\xff\xff", PB, {}, 400, "protobuf"),
        (b'{"resourceSpans": [', "application/json", {}, 400, "JSON"),
        (b"<xml/>", "text/xml", {}, 415, "text/xml"),
        (b"not gzip at all", PB, {"HTTP_CONTENT_ENCODING": "gzip"}, 400, "gzip"),
        (b"x", PB, {"HTTP_CONTENT_ENCODING": "br"}, 415, "br"),
    ],
)
def test_bad_bodies_get_a_clear_4xx(client, api_key, body, content_type, headers, status, needle):
    response = post(client, api_key, body, content_type=content_type, **headers)
    assert response.status_code == status
    text = response.content.decode(errors="replace")
    assert needle.lower() in text.lower()


def test_a_gzip_bomb_is_stopped_with_413(client, api_key, settings):
    settings.OTLP_MAX_DECOMPRESSED_BYTES = 1024 * 1024
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    response = post(client, api_key, bomb, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413


def test_a_body_over_the_limit_is_413_before_reading(client, api_key, settings):
    settings.OTLP_MAX_BODY_BYTES = 1000
    response = post(client, api_key, b"\0" * 5000)
    assert response.status_code == 413
    assert "1000" in response.content.decode(errors="replace")


def test_too_many_spans_is_413(client, api_key, settings, project):
    settings.INGEST_MAX_SPANS_PER_REQUEST = 2
    response = post(client, api_key, protobuf_body(record_spans(genai_request)))
    assert response.status_code == 413
    assert not Span.objects.filter(project=project).exists()


def test_logs_posted_to_the_traces_endpoint_are_rejected_with_400(client, api_key):
    body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "hi"}}]}]}]})
    # A protobuf ExportLogsServiceRequest decodes as id-less spans; the JSON form as an empty request.
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    logs = json_format.Parse(body, ExportLogsServiceRequest())
    response = post(client, api_key, logs.SerializeToString())
    assert response.status_code == 400
    assert "no usable span" in response.content.decode(errors="replace")


def test_missing_or_wrong_key_is_401_in_otlp_form(client):
    response = client.post("/v1/traces", data=b"", content_type="application/json")
    assert response.status_code == 401
    assert "Authorization" in response.json()["message"]
    response = client.post(
        "/v1/traces", data=b"", content_type="application/json", HTTP_AUTHORIZATION="Bearer nope-nope-nope-nope-nope"
    )
    assert response.status_code == 401


def test_read_only_key_cannot_ingest(client, project):
    from apps.projects.services import api_key_create

    key = api_key_create(project=project, name="reader", scope="read").plaintext
    assert post(client, key, b"").status_code == 403


def test_get_is_405(client, api_key):
    response = client.get("/v1/traces", HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert response.status_code == 405


def test_an_empty_request_succeeds(client, api_key):
    response = post(client, api_key, b"{}", content_type="application/json")
    assert (response.status_code, response.json()) == (200, {})


def test_database_outage_answers_503_with_retry_after(client, api_key):
    body = protobuf_body(record_spans(genai_request))
    # Authenticate first (the key lookup is cached nowhere), then break the connection for real.
    connection.ensure_connection()
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there: a real connection failure
    try:
        response = post(client, api_key, body)
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port
    assert response.status_code == 503
    assert response["Retry-After"] == "2"


def test_ingest_succeeds_when_the_broker_is_down_and_the_sweeper_catches_up(
    client, api_key, project, caplog, django_capture_on_commit_callbacks
):
    from apps.traces.services import ingest_batch_sweep
    from tests.support.broker import broker_unreachable

    with (
        broker_unreachable(),
        caplog.at_level("WARNING", logger="apps.core.queue"),
        django_capture_on_commit_callbacks(execute=True),  # the enqueue runs after commit
    ):
        response = post(client, api_key, protobuf_body(record_spans(genai_request)))
    assert "traces.ingest_batch_process" in caplog.text and "not enqueued" in caplog.text
    assert response.status_code == 200
    batch = IngestBatch.objects.get(project=project)
    assert batch.state == IngestBatch.State.PENDING
    assert Span.objects.filter(project=project).count() == 3  # the 2xx meant stored
    IngestBatch.objects.filter(id=batch.id).update(created_at=batch.created_at.replace(year=2000))
    assert ingest_batch_sweep() == [batch.id]  # the broker is back: the sweeper enqueues it


@pytest.mark.django_db(transaction=True)
def test_a_locked_trace_row_answers_503_with_retry_after_instead_of_hanging(client, api_key, project, settings):
    import psycopg

    settings.INGEST_LOCK_TIMEOUT_MS = 200
    spans = record_spans(genai_request)
    root = next(s for s in spans if s.parent is None)
    children = [s for s in spans if s.parent is not None]
    assert post(client, api_key, protobuf_body([root])).status_code == 200
    trace_id = format(root.context.trace_id, "032x")
    db = connection.settings_dict
    other = psycopg.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or 5432, password=db["PASSWORD"] or None
    )
    try:
        other.execute("BEGIN")
        other.execute("SELECT id FROM traces_trace WHERE trace_id = %s FOR UPDATE", [trace_id])  # a long writer
        busy = post(client, api_key, protobuf_body(children))
        assert busy.status_code == 503
        assert busy["Retry-After"] == "2"
        assert b"lock wait timed out" in busy.content
        assert Span.objects.filter(project=project).count() == 1  # nothing half-stored
    finally:
        other.rollback()
        other.close()
    assert post(client, api_key, protobuf_body(children)).status_code == 200  # the exporter's retry succeeds
    assert Trace.objects.get(project=project).span_count == 3
