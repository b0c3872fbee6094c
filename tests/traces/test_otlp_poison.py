"""Poison inside an otherwise good OTLP batch: only the bad span pays, the good ones are stored, never a 5xx."""

from __future__ import annotations

import base64
import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from apps.traces.bulk import is_data_error, store_isolating_data_errors
from apps.traces.models import Span

pytestmark = pytest.mark.django_db

PB = "application/x-protobuf"
TRACE = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
T0 = 1_700_000_000_000_000_000


def span_id(i: int) -> bytes:
    return (i + 1).to_bytes(8, "big")


def batch(n: int, attrs: dict[int, str]) -> ExportTraceServiceRequest:
    """n spans of one trace; span i gets the attribute `note` = attrs[i] when given."""
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for i in range(n):
        span = scope.spans.add()
        span.trace_id, span.span_id, span.name = TRACE, span_id(i), f"step {i}"
        span.start_time_unix_nano, span.end_time_unix_nano = T0 + i, T0 + i + 1000
        if i in attrs:
            kv = span.attributes.add()
            kv.key, kv.value.string_value = "note", attrs[i]
    return request


def as_otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON of the request: camelCase, hex ids (json_format writes base64)."""
    from google.protobuf import json_format

    data = json_format.MessageToDict(request)
    for span in data["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId"):
            span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(data).encode()  # a NUL becomes \u0000


def post(client, key, body: bytes, content_type: str = PB):
    return client.post("/v1/traces", data=body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}")


def rejected_of(response) -> tuple[int, str]:
    if response["Content-Type"].startswith("application/json"):
        partial = response.json().get("partialSuccess", {})
        return int(partial.get("rejectedSpans", 0)), partial.get("errorMessage", "")
    parsed = ExportTraceServiceResponse.FromString(response.content)
    return parsed.partial_success.rejected_spans, parsed.partial_success.error_message


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_a_nul_byte_costs_one_span_and_the_150_good_ones_are_stored(client, api_key, project, encoding):
    request = batch(151, {75: "a\x00b", 3: "fine"})
    body, content_type = (
        (request.SerializeToString(), PB) if encoding == "protobuf" else (as_otlp_json(request), "application/json")
    )
    response = post(client, api_key, body, content_type)
    assert response.status_code == 200, response.content  # never the retryable 503 of a poison batch
    rejected, message = rejected_of(response)
    stored = {bytes.fromhex(s) for s in Span.objects.filter(project=project).values_list("span_id", flat=True)}
    assert {span_id(i) for i in range(151) if i != 75} <= stored
    # Either outcome is right for the bad span: rejected and named, or kept with the NUL stripped.
    if rejected:
        assert rejected == 1
        assert "span 75" in message
        assert span_id(75) not in stored
    else:
        note = Span.objects.get(project=project, span_id=span_id(75).hex()).attributes["note"]
        assert "\x00" not in note
    assert len(stored) == 151 - rejected  # everything acknowledged is in the database


def test_a_batch_of_only_poison_is_400_not_503(client, api_key, project):
    response = post(client, api_key, batch(2, {0: "x\x00", 1: "\x00y"}).SerializeToString())
    stored = Span.objects.filter(project=project).count()
    if response.status_code == 200:  # NUL stripped at normalization: both kept
        assert rejected_of(response)[0] == 0 and stored == 2
    else:
        assert response.status_code == 400
        assert stored == 0


def test_isolation_splits_until_each_refused_item_is_alone():
    """Database errors caused by the data are found by halving; other items are stored in order."""
    from django.db import DataError

    calls: list[list[int]] = []

    def store(group: list[int]) -> int:
        calls.append(group)
        if 7 in group or 12 in group:
            raise DataError("invalid byte sequence") from None
        return len(group)

    stored, refused = store_isolating_data_errors(list(range(16)), store)
    assert sum(stored) == 14
    assert sorted(item for item, _ in refused) == [7, 12]
    assert len(calls) < 16  # not one write per item


def test_only_data_errors_are_isolated_an_outage_propagates():
    from django.db import OperationalError

    def store(group: list[int]) -> int:
        raise OperationalError("connection refused")

    with pytest.raises(OperationalError):
        store_isolating_data_errors([1, 2, 3], store)
    assert not is_data_error(OperationalError("connection refused"))


def test_invalid_utf8_in_one_string_keeps_every_span(client, api_key, project):
    request = batch(3, {1: "MARKER", 2: "ok"})
    request.resource_spans[0].scope_spans[0].spans[2].name = "NAMEMARK"
    body = request.SerializeToString().replace(b"MARKER", b"ab\xff\xfecd").replace(b"NAMEMARK", b"nam\xc3(ark")
    with pytest.raises(Exception, match="parsing"):
        ExportTraceServiceRequest.FromString(body)  # the body really is one protobuf refuses
    response = post(client, api_key, body)
    assert response.status_code == 200, response.content
    assert rejected_of(response)[0] == 0
    spans = {s.span_id: s for s in Span.objects.filter(project=project)}
    assert len(spans) == 3
    assert spans[span_id(1).hex()].attributes["note"] == "ab\ufffd\ufffdcd"  # the bad bytes replaced, span kept
    assert spans[span_id(2).hex()].name == "nam\ufffd(ark"


def test_garbage_protobuf_is_still_400(client, api_key, project):
    response = post(client, api_key, b"\x0a\xff\xff\xff\xff\x0f garbage")
    assert response.status_code == 400
    assert not Span.objects.filter(project=project).exists()


def nested_any_value_json(depth: int) -> dict:
    value: dict = {"stringValue": "bottom"}
    for _ in range(depth):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return value


@pytest.mark.parametrize("depth", [40, 10_000])
def test_deeply_nested_otlp_json_is_400_not_500(client, api_key, project, depth):
    if depth > 1000:  # the envelope itself: brackets all the way down
        body = b"[" * depth + b"]" * depth
    else:  # an attribute nested past what protobuf would decode
        span = {"traceId": TRACE.hex(), "spanId": span_id(0).hex(), "name": "deep"}
        span["attributes"] = [{"key": "deep", "value": nested_any_value_json(depth)}]
        body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()
    response = post(client, api_key, body, "application/json")
    assert response.status_code == 400, response.content
    assert "deep" in response.json()["message"] or "nested" in response.json()["message"]
    assert not Span.objects.filter(project=project).exists()


def test_nesting_protobuf_allows_is_accepted_in_json_too(client, api_key, project):
    span = {"traceId": TRACE.hex(), "spanId": span_id(0).hex(), "name": "nested", "startTimeUnixNano": str(T0)}
    span["attributes"] = [{"key": "nested", "value": nested_any_value_json(20)}]
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()
    assert post(client, api_key, body, "application/json").status_code == 200
    assert Span.objects.filter(project=project).count() == 1


def test_deeply_nested_protobuf_any_value_is_400_not_500(client, api_key, project):
    request = batch(1, {})
    value = request.resource_spans[0].scope_spans[0].spans[0].attributes.add()
    value.key = "deep"
    any_value = value.value
    for _ in range(200):
        kv = any_value.kvlist_value.values.add()
        kv.key = "k"
        any_value = kv.value
    any_value.string_value = "bottom"
    response = post(client, api_key, request.SerializeToString())
    assert response.status_code == 400
    assert not Span.objects.filter(project=project).exists()


def test_an_attribute_holding_json_nested_2000_deep_costs_at_most_its_span(client, api_key, project):
    request = batch(3, {1: "[" * 2000 + "]" * 2000})
    request.resource_spans[0].scope_spans[0].spans[1].attributes[0].key = "gen_ai.input.messages"
    response = post(client, api_key, request.SerializeToString())
    assert response.status_code == 200, response.content
    rejected, message = rejected_of(response)
    stored = set(Span.objects.filter(project=project).values_list("span_id", flat=True))
    assert {span_id(0).hex(), span_id(2).hex()} <= stored
    # Rejected with a reason, or (once normalization keeps the raw string) stored.
    assert (rejected == 1 and "nested too deeply" in message) or (rejected == 0 and span_id(1).hex() in stored)
    assert len(stored) == 3 - rejected
