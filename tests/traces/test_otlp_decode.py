"""Decoding OTLP/HTTP bodies: compression, protobuf from the real SDK, OTLP JSON, responses."""

from __future__ import annotations

import base64
import gzip
import json
import tracemalloc
import zlib

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from apps.traces.normalize import SpanRejected, normalize_span
from apps.traces.otlp import (
    OtlpError,
    any_value_to_python,
    attributes_to_dict,
    encode_logs_response,
    encode_status,
    encode_traces_response,
    iter_log_records,
    iter_spans,
    parse_logs_request,
    parse_traces_request,
    read_body,
)

PB = "application/x-protobuf"
JS = "application/json"
MB = 1024 * 1024

TRACE_HEX = "5B8EFFF798038103D269B633813FC60C"
SPAN_HEX = "EEE19B7EC3C1B174"
PARENT_HEX = "EEE19B7EC3C1B173"


def sdk_spans() -> list:
    """Produce finished ReadableSpans with the real OTel SDK."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "chatbot", "service.version": "1.4.2"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("my.instrumentation", "0.9.1")
    with tracer.start_as_current_span("invoke_agent support", kind=SpanKind.INTERNAL) as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as span:
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.provider.name", "openai")
            span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            span.set_attribute("gen_ai.usage.input_tokens", 42)
            span.set_attribute("gen_ai.request.temperature", 0.2)
            span.set_attribute("gen_ai.response.finish_reasons", ["stop"])
            span.set_attribute("weird.nan", float("nan"))
            span.add_event("something", {"k": "v"})
            span.set_status(Status(StatusCode.ERROR, "rate limited"))
    provider.shutdown()
    return exporter.get_finished_spans()


def otlp_json(spans: list[dict], resource_attrs: list | None = None) -> bytes:
    """Wrap span dicts in an OTLP JSON ExportTraceServiceRequest."""
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": resource_attrs or [{"key": "service.name", "value": {"stringValue": "svc"}}]
                    },
                    "scopeSpans": [
                        {"scope": {"name": "scope-x", "version": "1.0"}, "spans": spans, "someFutureField": {"x": 1}}
                    ],
                    "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
                }
            ],
        }
    ).encode()


def json_span(**overrides: object) -> dict:
    """One OTLP JSON span with upper-case hex ids and int64s as strings."""
    span = {
        "traceId": TRACE_HEX,
        "spanId": SPAN_HEX,
        "parentSpanId": PARENT_HEX,
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001500000000",
        "attributes": [
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
            {"key": "ratio", "value": {"doubleValue": "NaN"}},
            {"key": "inf", "value": {"doubleValue": "Infinity"}},
            {"key": "flag", "value": {"boolValue": True}},
            {"key": "blob", "value": {"bytesValue": base64.b64encode(b"\x00\x01").decode()}},
            {"key": "list", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": 2}]}}},
            {"key": "kv", "value": {"kvlistValue": {"values": [{"key": "x", "value": {"stringValue": "y"}}]}}},
        ],
        "events": [
            {
                "timeUnixNano": "1700000000100000000",
                "name": "e1",
                "attributes": [{"key": "a", "value": {"stringValue": "b"}}],
            }
        ],
        "links": [{"traceId": TRACE_HEX.lower(), "spanId": PARENT_HEX.lower()}],
        "status": {"code": 2, "message": "boom"},
        "unknownSpanField": "ignored",
    }
    span.update(overrides)
    return span


# -- read_body ----------------------------------------------------------------------------------


def test_read_body_identity_and_none_pass_through() -> None:
    assert read_body(b"abc", None, 10) == b"abc"
    assert read_body(b"abc", "identity", 10) == b"abc"
    assert read_body(b"abc", "", 10) == b"abc"


def test_read_body_identity_over_cap_is_413() -> None:
    with pytest.raises(OtlpError) as err:
        read_body(b"x" * 11, None, 10)
    assert err.value.status == 413


def test_read_body_gunzips() -> None:
    payload = b"hello otlp" * 1000
    assert read_body(gzip.compress(payload), "gzip", MB) == payload
    assert read_body(gzip.compress(payload), "GZIP", MB) == payload


def test_read_body_handles_concatenated_gzip_members() -> None:
    assert read_body(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", MB) == b"abcd"


def test_read_body_inflates_zlib_and_raw_deflate() -> None:
    payload = b"deflate me " * 500
    raw = zlib.compressobj(wbits=-15)
    raw_deflate = raw.compress(payload) + raw.flush()
    assert read_body(zlib.compress(payload), "deflate", MB) == payload
    assert read_body(raw_deflate, "deflate", MB) == payload


def test_read_body_stops_a_gzip_bomb_early() -> None:
    # 200 MB of zeros compresses to ~200 KB; the cap must stop inflation, not inflate then measure.
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MB)
    bomb = b"".join(comp.compress(zeros) for _ in range(200)) + comp.flush()
    assert len(bomb) < 1 * MB
    # Stopping early shows in memory, not time: inflating first would hold 200 MB (speed is `make bench`'s).
    tracemalloc.start()
    try:
        with pytest.raises(OtlpError) as err:
            read_body(bomb, "gzip", MB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.status == 413
    assert peak < 8 * MB


def test_read_body_exactly_at_cap_is_accepted() -> None:
    assert len(read_body(gzip.compress(bytes(MB)), "gzip", MB)) == MB


def test_read_body_corrupt_gzip_is_400() -> None:
    with pytest.raises(OtlpError) as err:
        read_body(b"\x1f\x8b\x08\x00garbage-not-deflate", "gzip", MB)
    assert err.value.status == 400
    assert err.value.message.startswith("body is not valid gzip:")


def test_read_body_plain_text_declared_gzip_is_400() -> None:
    with pytest.raises(OtlpError) as err:
        read_body(b'{"resourceSpans": []}', "gzip", MB)
    assert err.value.status == 400


def test_read_body_truncated_gzip_is_400() -> None:
    data = gzip.compress(b"x" * 10000)
    with pytest.raises(OtlpError) as err:
        read_body(data[: len(data) // 2], "gzip", MB)
    assert err.value.status == 400
    assert "truncated" in err.value.message


def test_read_body_unknown_encoding_is_415() -> None:
    with pytest.raises(OtlpError) as err:
        read_body(b"abc", "br", MB)
    assert err.value.status == 415
    assert "br" in err.value.message


# -- protobuf ------------------------------------------------------------------------------------


def test_parse_protobuf_from_real_sdk() -> None:
    spans = sdk_spans()
    body = encode_spans(spans).SerializeToString()
    request = parse_traces_request(body, "application/x-protobuf")
    raws = list(iter_spans(request))
    assert len(raws) == 2
    chat = next(r for r in raws if r.span.name == "chat gpt-4o-mini")
    assert chat.resource["service.name"] == "chatbot"
    assert (chat.scope_name, chat.scope_version) == ("my.instrumentation", "0.9.1")
    sdk_chat = next(s for s in spans if s.name == "chat gpt-4o-mini")
    assert chat.span.trace_id.hex() == format(sdk_chat.context.trace_id, "032x")
    assert chat.span.span_id.hex() == format(sdk_chat.context.span_id, "016x")
    attrs = attributes_to_dict(chat.span.attributes)
    assert attrs["gen_ai.usage.input_tokens"] == 42
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert attrs["weird.nan"] is None  # NaN never reaches JSON
    norm = normalize_span(chat)
    assert norm.kind == "llm" and norm.status == "error" and norm.error_message == "rate limited"
    assert norm.parent_span_id == format(sdk_chat.parent.span_id, "016x")
    assert norm.request_params == {"temperature": 0.2}


@pytest.mark.parametrize(
    "ctype", ["application/x-protobuf", "application/protobuf", "application/x-protobuf; charset=utf-8"]
)
def test_parse_protobuf_content_type_variants(ctype: str) -> None:
    body = encode_spans(sdk_spans()).SerializeToString()
    assert len(list(iter_spans(parse_traces_request(body, ctype)))) == 2


def test_parse_protobuf_gzip_roundtrip() -> None:
    body = encode_spans(sdk_spans()).SerializeToString()
    decoded = read_body(gzip.compress(body), "gzip", 64 * MB)
    assert len(list(iter_spans(parse_traces_request(decoded, PB)))) == 2


def test_parse_malformed_protobuf_is_400() -> None:
    with pytest.raises(OtlpError) as err:
        parse_traces_request(b"\x0a\xff\xff\xff\xff\x0f garbage", PB)
    assert err.value.status == 400
    assert err.value.message.startswith("malformed protobuf")


def test_parse_empty_body_is_an_empty_request() -> None:
    assert list(iter_spans(parse_traces_request(b"", PB))) == []
    assert list(iter_spans(parse_traces_request(b"", JS))) == []


def test_parse_unknown_content_type_is_415() -> None:
    with pytest.raises(OtlpError) as err:
        parse_traces_request(b"x", "text/plain")
    assert err.value.status == 415
    assert "text/plain" in err.value.message


@pytest.mark.filterwarnings("ignore:LogRecord will be removed", "ignore:LogData will be removed")
def test_logs_posted_to_traces_endpoint_yield_idless_rejected_spans() -> None:
    from opentelemetry.sdk._logs import LogData, LogRecord
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    record = LogRecord(timestamp=1, body="hello", resource=Resource.create({}), attributes={"a": 1})
    body = encode_logs([LogData(record, InstrumentationScope("x"))]).SerializeToString()
    raws = list(iter_spans(parse_traces_request(body, PB)))
    assert raws, "logs decode as spans because the field numbers are shared"
    for raw in raws:
        with pytest.raises(SpanRejected) as err:
            normalize_span(raw)
        assert "logs" in err.value.reason


# -- JSON ----------------------------------------------------------------------------------------


def test_parse_json_rewrites_hex_ids_not_base64() -> None:
    request = parse_traces_request(otlp_json([json_span()]), "application/json; charset=utf-8")
    (raw,) = iter_spans(request)
    span = raw.span
    assert len(span.trace_id) == 16 and span.trace_id.hex() == TRACE_HEX.lower()
    assert len(span.span_id) == 8 and span.span_id.hex() == SPAN_HEX.lower()
    assert span.parent_span_id.hex() == PARENT_HEX.lower()
    assert span.links[0].span_id.hex() == PARENT_HEX.lower()
    assert span.start_time_unix_nano == 1700000000000000000
    assert span.kind == 3 and span.status.code == 2
    assert raw.resource == {"service.name": "svc"}
    assert raw.scope_name == "scope-x"


def test_fast_json_builder_matches_json_format() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from apps.traces import otlp

    span = json_span(
        traceState="rojo=00f067aa0ba902b7",
        flags=257,
        droppedAttributesCount=2,
        droppedEventsCount=1,
        droppedLinksCount=0,
    )
    span["attributes"].append({"key": "empty_list", "value": {"arrayValue": {}}})
    span["attributes"].append({"key": "no_value"})
    body = otlp_json([span, json_span(spanId="ff" * 8, name="second")])
    fast = parse_traces_request(body, JS)
    slow = ExportTraceServiceRequest()
    data = json.loads(body)
    otlp._rewrite_trace_ids(data)
    json_format.ParseDict(data, slow, ignore_unknown_fields=True)
    assert fast == slow


def test_json_enum_names_and_snake_case_fall_back_to_json_format() -> None:
    (raw,) = iter_spans(parse_traces_request(otlp_json([json_span(kind="SPAN_KIND_CLIENT")]), JS))
    assert raw.span.kind == 3 and raw.span.trace_id.hex() == TRACE_HEX.lower()
    span = json_span()
    span["start_time_unix_nano"] = span.pop("startTimeUnixNano")
    (raw,) = iter_spans(parse_traces_request(otlp_json([span]), JS))
    assert raw.span.start_time_unix_nano == 1700000000000000000


def test_plain_json_format_would_corrupt_ids() -> None:
    # The documented bug this module works around: base64-decoding hex gives 24/12-byte ids.
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    wrong = json_format.Parse(otlp_json([json_span()]), ExportTraceServiceRequest(), ignore_unknown_fields=True)
    assert len(wrong.resource_spans[0].scope_spans[0].spans[0].trace_id) == 24


def test_parse_json_attribute_values() -> None:
    (raw,) = iter_spans(parse_traces_request(otlp_json([json_span()]), JS))
    attrs = attributes_to_dict(raw.span.attributes)
    assert attrs["gen_ai.usage.input_tokens"] == 12
    assert attrs["ratio"] is None and attrs["inf"] is None
    assert attrs["flag"] is True
    assert attrs["blob"] == base64.b64encode(b"\x00\x01").decode()
    assert attrs["list"] == ["a", 2]
    assert attrs["kv"] == {"x": "y"}
    json.dumps(attrs, allow_nan=False)


def test_parse_json_accepts_snake_case_and_numbers() -> None:
    span = json_span()
    span.pop("traceId")
    span["trace_id"] = TRACE_HEX
    span["startTimeUnixNano"] = 1700000000000000000
    body = json.dumps({"resource_spans": [{"scope_spans": [{"spans": [span]}]}]}).encode()
    (raw,) = iter_spans(parse_traces_request(body, JS))
    assert raw.span.trace_id.hex() == TRACE_HEX.lower()
    assert raw.span.start_time_unix_nano == 1700000000000000000


def test_parse_json_accepts_base64_ids_from_noncompliant_senders() -> None:
    span = json_span(
        traceId=base64.b64encode(bytes.fromhex(TRACE_HEX)).decode(),
        spanId=base64.b64encode(bytes.fromhex(SPAN_HEX)).decode(),
    )
    (raw,) = iter_spans(parse_traces_request(otlp_json([span]), JS))
    assert raw.span.trace_id.hex() == TRACE_HEX.lower()
    assert raw.span.span_id.hex() == SPAN_HEX.lower()


def test_bad_hex_id_rejects_only_that_span() -> None:
    good = json_span()
    bad = json_span(spanId="zz" * 8, name="bad one")
    bad_parent = json_span(parentSpanId="not-hex!", name="bad parent")
    short = json_span(traceId="abcd", name="short")
    request = parse_traces_request(otlp_json([good, bad, bad_parent, short]), JS)
    results = {}
    for raw in iter_spans(request):
        try:
            results[raw.span.name] = normalize_span(raw)
        except SpanRejected as exc:
            results[raw.span.name] = exc.reason
    assert results["chat gpt-4o"].span_id == SPAN_HEX.lower()
    assert "span_id must be 8 bytes, got 1" in results["bad one"]
    assert "spanId 'zzzzzzzzzzzzzzzz' is not a hex id" in results["bad one"]
    assert "parentSpanId 'not-hex!' is not a hex id" in results["bad parent"]
    assert results["short"] == "trace_id must be 16 bytes, got 2"


def test_bad_link_id_keeps_the_span() -> None:
    span = json_span(links=[{"traceId": "xyz", "spanId": "also bad"}])
    (raw,) = iter_spans(parse_traces_request(otlp_json([span]), JS))
    assert normalize_span(raw).span_id == SPAN_HEX.lower()
    assert raw.span.links[0].trace_id == b""


def test_zero_ids_are_rejected() -> None:
    span = json_span(traceId="0" * 32)
    (raw,) = iter_spans(parse_traces_request(otlp_json([span]), JS))
    with pytest.raises(SpanRejected, match="trace_id is all zeros"):
        normalize_span(raw)
    span = json_span(spanId="0" * 16)
    (raw,) = iter_spans(parse_traces_request(otlp_json([span]), JS))
    with pytest.raises(SpanRejected, match="span_id is all zeros"):
        normalize_span(raw)


def test_malformed_json_is_400_with_position() -> None:
    with pytest.raises(OtlpError) as err:
        parse_traces_request(b'{"resourceSpans": [}', JS)
    assert err.value.status == 400
    assert "line 1 column" in err.value.message


def test_json_not_an_object_is_400() -> None:
    with pytest.raises(OtlpError) as err:
        parse_traces_request(b"[1, 2]", JS)
    assert err.value.status == 400


def test_json_wrong_types_are_400() -> None:
    body = otlp_json([json_span(startTimeUnixNano="yesterday")])
    with pytest.raises(OtlpError) as err:
        parse_traces_request(body, JS)
    assert err.value.status == 400
    assert err.value.message.startswith("invalid OTLP JSON")


def test_json_non_utf8_is_400() -> None:
    with pytest.raises(OtlpError) as err:
        parse_traces_request(b'{"a": "\xff\xfe"}', JS)
    assert err.value.status == 400


# -- logs decode ---------------------------------------------------------------------------------


def test_parse_logs_json_rewrites_ids() -> None:
    body = json.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {},
                    "scopeLogs": [
                        {
                            "scope": {"name": "s"},
                            "logRecords": [
                                {
                                    "timeUnixNano": "1700000000000000000",
                                    "eventName": "gen_ai.evaluation.result",
                                    "traceId": TRACE_HEX,
                                    "spanId": SPAN_HEX,
                                    "body": {"stringValue": "x"},
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    ).encode()
    (raw,) = iter_log_records(parse_logs_request(body, JS))
    assert raw.record.trace_id.hex() == TRACE_HEX.lower()
    assert raw.record.span_id.hex() == SPAN_HEX.lower()
    assert raw.record.event_name == "gen_ai.evaluation.result"
    assert any_value_to_python(raw.record.body) == "x"


def test_parse_logs_protobuf_and_errors() -> None:
    assert list(iter_log_records(parse_logs_request(b"", PB))) == []
    with pytest.raises(OtlpError) as err:
        parse_logs_request(b"{}", "text/html")
    assert err.value.status == 415


# -- responses -----------------------------------------------------------------------------------


def test_encode_traces_response_json() -> None:
    assert encode_traces_response(JS, 0, "") == (b"{}", "application/json")
    body, ctype = encode_traces_response("application/json; charset=utf-8", 2, "span 1: bad id")
    assert ctype == "application/json"
    assert json.loads(body) == {"partialSuccess": {"rejectedSpans": "2", "errorMessage": "span 1: bad id"}}


def test_encode_traces_response_protobuf() -> None:
    body, ctype = encode_traces_response(PB, 3, "nope")
    assert ctype == "application/x-protobuf"
    response = ExportTraceServiceResponse.FromString(body)
    assert response.partial_success.rejected_spans == 3
    assert response.partial_success.error_message == "nope"
    body, _ = encode_traces_response(PB, 0, "")
    assert not ExportTraceServiceResponse.FromString(body).HasField("partial_success")
    _, ctype = encode_traces_response("application/protobuf", 0, "")
    assert ctype == "application/protobuf"


def test_encode_logs_response() -> None:
    body, _ = encode_logs_response(JS, 1, "x")
    assert json.loads(body) == {"partialSuccess": {"rejectedLogRecords": "1", "errorMessage": "x"}}
    body, _ = encode_logs_response(PB, 1, "x")
    assert ExportLogsServiceResponse.FromString(body).partial_success.rejected_log_records == 1


def test_encode_status_matches_google_rpc_status() -> None:
    status_pb2 = pytest.importorskip("google.rpc.status_pb2")
    body, ctype = encode_status(PB, 3, "malformed protobuf: héllo " + "x" * 300)
    assert ctype == "application/x-protobuf"
    status = status_pb2.Status.FromString(body)
    assert status.code == 3 and status.message.startswith("malformed protobuf: héllo")
    assert status_pb2.Status.FromString(encode_status(PB, 0, "")[0]) == status_pb2.Status()
    body, ctype = encode_status(JS, 400, "bad")
    assert (json.loads(body), ctype) == ({"code": 400, "message": "bad"}, "application/json")
