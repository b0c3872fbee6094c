"""The bad-input battery: every bad input, on every ingest endpoint, against the real web server (gunicorn).

One table: each case builds a request per endpoint (or none where it makes no sense). For every answer:
no 5xx, ever; and a 2xx must mean stored, so every item it acknowledged is looked up in the database.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import pytest
import requests
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from apps.scores.models import Score
from apps.traces.models import PendingSpanContent, Span, Trace
from apps.traces.services import traces_ensure

pytestmark = pytest.mark.django_db(transaction=True)

PB = "application/x-protobuf"
JSON = "application/json"
T0 = 1_700_000_000_000_000_000
SCORED_TRACE = "5c0de5c0de5c0de5c0de5c0de5c0de51"  # exists before each request, so scores can name it


@dataclass
class Sent:
    """One request of the battery and the items it carries (what a 2xx would acknowledge)."""

    body: bytes | Any
    content_type: str
    items: list[str] = field(default_factory=list)  # span ids / log span ids / trace ids / score names
    headers: dict[str, str] = field(default_factory=dict)
    declared_length: int | None = None  # send this Content-Length whatever the body's size


# -- good payloads with hooks for the poison -------------------------------------------------------


def _span_id(i: int) -> bytes:
    return (0xB0 + i).to_bytes(8, "big")


def _trace_id(i: int) -> bytes:
    return (0x7A000 + i).to_bytes(16, "big")


def otlp_traces(n: int = 5, mutate: Callable[[Any, int], None] | None = None) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for i in range(n):
        span = scope.spans.add()
        span.trace_id, span.span_id, span.name = _trace_id(i % 2), _span_id(i), f"span {i}"
        span.start_time_unix_nano, span.end_time_unix_nano = T0 + i, T0 + i + 5_000_000
        kv = span.attributes.add()
        kv.key, kv.value.string_value = "gen_ai.operation.name", "chat"
        if mutate:
            mutate(span, i)
    return request


def otlp_logs(n: int = 5, mutate: Callable[[Any, int], None] | None = None) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for i in range(n):
        record = scope.log_records.add()
        record.time_unix_nano, record.trace_id, record.span_id = T0 + i, _trace_id(9), _span_id(i)
        record.event_name = "gen_ai.client.inference.operation.details"
        kv = record.attributes.add()
        messages = [{"role": "user", "parts": [{"type": "text", "content": f"question {i}"}]}]
        kv.key, kv.value.string_value = "gen_ai.input.messages", json.dumps(messages)
        if mutate:
            mutate(record, i)
    return request


def span_items(request: ExportTraceServiceRequest) -> list[str]:
    return [s.span_id.hex() for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


def log_items(request: ExportLogsServiceRequest) -> list[str]:
    return [r.span_id.hex() for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]


def otlp_json(request: Any) -> dict[str, Any]:
    """OTLP/JSON (camelCase, hex ids) of a pb2 request."""
    data = json_format.MessageToDict(request)
    for outer, inner, leaf in (("resourceSpans", "scopeSpans", "spans"), ("resourceLogs", "scopeLogs", "logRecords")):
        for r in data.get(outer, []):
            for s in r.get(inner, []):
                for item in s.get(leaf, []):
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if item.get(key):
                            item[key] = base64.b64decode(item[key]).hex()
    return data


def rest_traces(n: int = 4, mutate: Callable[[dict[str, Any], int], None] | None = None) -> dict[str, Any]:
    traces = []
    for i in range(n):
        item = {
            "trace_id": _trace_id(100 + i).hex(),
            "name": f"request {i}",
            "started_at": "2026-11-27T10:00:00Z",
            "input": f"question {i}",
            "output": f"answer {i}",
            "spans": [{"span_id": _span_id(i).hex(), "kind": "llm", "started_at": "2026-11-27T10:00:00.100Z"}],
        }
        if mutate:
            mutate(item, i)
        traces.append(item)
    return {"traces": traces}


def rest_scores(n: int = 4, mutate: Callable[[dict[str, Any], int], None] | None = None) -> dict[str, Any]:
    scores = []
    for i in range(n):
        item = {"trace_id": SCORED_TRACE, "name": f"metric_{i}", "value": 0.5, "explanation": "fine"}
        if mutate:
            mutate(item, i)
        scores.append(item)
    return {"scores": scores}


def traces_pb(request: ExportTraceServiceRequest) -> Sent:
    return Sent(request.SerializeToString(), PB, span_items(request))


def traces_json(request: ExportTraceServiceRequest) -> Sent:
    return Sent(json.dumps(otlp_json(request)).encode(), JSON, span_items(request))


def logs_pb(request: ExportLogsServiceRequest) -> Sent:
    return Sent(request.SerializeToString(), PB, log_items(request))


def rest_json(payload: dict[str, Any]) -> Sent:
    if "traces" in payload:
        items = [t.get("trace_id", "") for t in payload["traces"]]
    else:
        items = [s.get("name", "") for s in payload["scores"]]
    return Sent(json.dumps(payload).encode(), JSON, items)


# -- the poisons ---------------------------------------------------------------------------------------


def set_attr(target: Any, key: str, value: str) -> None:
    kv = target.attributes.add()
    kv.key, kv.value.string_value = key, value


def nul_span(span: Any, i: int) -> None:
    if i == 2:
        set_attr(span, "note", "a\x00b")


def nul_log(record: Any, i: int) -> None:
    if i == 1:
        messages = [{"role": "user", "parts": [{"type": "text", "content": "x\x00y"}]}]
        record.attributes[0].value.string_value = json.dumps(messages)  # \u0000 inside the JSON


def deep_messages(target: Any, i: int) -> None:
    if i == 1:
        set_attr(target, "gen_ai.input.messages", "[" * 2000 + "]" * 2000)


def deep_any_value(span: Any, i: int) -> None:
    if i == 1:
        kv = span.attributes.add()
        kv.key = "deep"
        value = kv.value
        for _ in range(300):
            inner = value.kvlist_value.values.add()
            inner.key = "k"
            value = inner.value
        value.string_value = "bottom"


def marked(request: Any) -> bytes:
    """Serialize with a MARKER string, then swap it for invalid UTF-8 (protobuf would refuse to encode it)."""
    return request.SerializeToString().replace(b"MARKER", b"bad\xff\xfe")


def utf8_span(span: Any, i: int) -> None:
    if i == 3:
        set_attr(span, "note", "MARKER")


def bad_id_span(span: Any, i: int) -> None:
    if i == 1:
        span.trace_id = b"\x01\x02"  # not 16 bytes
    if i == 2:
        span.span_id = bytes(8)  # all zero


def wild_time_span(span: Any, i: int) -> None:
    if i == 1:
        span.start_time_unix_nano, span.end_time_unix_nano = 2**64 - 1, 2**64 - 1
    if i == 2:
        span.start_time_unix_nano, span.end_time_unix_nano = 1, 0


def deep_json(prefix: bytes = b"") -> bytes:
    return prefix + b"[" * 10_000 + b"]" * 10_000 + (b"}" if prefix else b"")


def chunked(sent: Sent) -> Sent:
    body = sent.body
    return Sent(iter([body[:7], body[7:]]), sent.content_type, sent.items)


def gz_truncated(sent: Sent) -> Sent:
    return Sent(gzip.compress(sent.body)[:-12], sent.content_type, [], {"Content-Encoding": "gzip"})


def json_with_raw_bytes(payload: dict[str, Any], needle: str) -> Sent:
    sent = rest_json(payload)
    return Sent(sent.body.replace(needle.encode(), b"bad\xff\xfe"), JSON, sent.items)


def rest_mutate(key: str, value: Any, index: int = 1) -> Callable[[dict[str, Any], int], None]:
    def mutate(item: dict[str, Any], i: int) -> None:
        if i == index:
            item[key] = value

    return mutate


OTLP_TRACES_JSON = otlp_json(otlp_traces())
DEEP_OTLP_JSON = deep_json(b'{"resourceSpans": ')

# case → {endpoint: a function building the request}
CASES: dict[str, dict[str, Callable[[], Sent]]] = {
    "empty body": {
        "otlp-traces": lambda: Sent(b"", PB),
        "otlp-logs": lambda: Sent(b"", PB),
        "rest-traces": lambda: Sent(b"", JSON),
        "rest-scores": lambda: Sent(b"", JSON),
    },
    "wrong content type": {
        "otlp-traces": lambda: Sent(traces_pb(otlp_traces()).body, "text/plain", []),
        "otlp-logs": lambda: Sent(logs_pb(otlp_logs()).body, "text/plain", []),
        "rest-traces": lambda: Sent(rest_json(rest_traces()).body, "text/plain", []),
        "rest-scores": lambda: Sent(rest_json(rest_scores()).body, "application/x-www-form-urlencoded", []),
    },
    "garbage protobuf": {
        "otlp-traces": lambda: Sent(b"\x0a\xff\xff\xff\xff\x0f\x00garbage", PB),
        "otlp-logs": lambda: Sent(b"\x12\x05abc", PB),
        "rest-traces": lambda: Sent(b"\x0a\x03abc", PB),
        "rest-scores": lambda: Sent(b"\x0a\x03abc", PB),
    },
    "garbage JSON": {
        "otlp-traces": lambda: Sent(b'{"resourceSpans": [{', JSON),
        "otlp-logs": lambda: Sent(b"{nope}", JSON),
        "rest-traces": lambda: Sent(b'{"traces": [', JSON),
        "rest-scores": lambda: Sent(b"[1, 2", JSON),
    },
    "JSON of the wrong shape": {
        "otlp-traces": lambda: Sent(b'{"resourceSpans": 7}', JSON),
        "otlp-logs": lambda: Sent(b'["resourceLogs"]', JSON),
        "rest-traces": lambda: Sent(b'{"traces": [1, "x", null]}', JSON),
        "rest-scores": lambda: Sent(b'{"scores": {"a": 1}}', JSON),
    },
    "truncated gzip": {
        "otlp-traces": lambda: gz_truncated(traces_pb(otlp_traces())),
        "otlp-logs": lambda: gz_truncated(logs_pb(otlp_logs())),
        "rest-traces": lambda: gz_truncated(rest_json(rest_traces())),
        "rest-scores": lambda: gz_truncated(rest_json(rest_scores())),
    },
    "unknown content encoding": {
        "otlp-traces": lambda: Sent(traces_pb(otlp_traces()).body, PB, [], {"Content-Encoding": "br"}),
        "otlp-logs": lambda: Sent(logs_pb(otlp_logs()).body, PB, [], {"Content-Encoding": "zstd"}),
    },
    "huge declared length": {
        "otlp-traces": lambda: Sent(b"\x0a\x00", PB, declared_length=10**12),
        "otlp-logs": lambda: Sent(b"\x0a\x00", PB, declared_length=10**12),
        "rest-traces": lambda: Sent(b'{"traces": []}', JSON, declared_length=10**12),
        "rest-scores": lambda: Sent(b'{"scores": []}', JSON, declared_length=10**12),
    },
    "invalid hex ids": {
        "otlp-traces": lambda: traces_pb(otlp_traces(mutate=bad_id_span)),
        "otlp-traces-json": lambda: Sent(
            json.dumps(
                {
                    **OTLP_TRACES_JSON,
                    "resourceSpans": [
                        {
                            "scopeSpans": [
                                {
                                    "spans": [
                                        {**s, "traceId": "zz" * 16} if i == 1 else s
                                        for i, s in enumerate(
                                            OTLP_TRACES_JSON["resourceSpans"][0]["scopeSpans"][0]["spans"]
                                        )
                                    ]
                                }
                            ]
                        }
                    ],
                }
            ).encode(),
            JSON,
            span_items(otlp_traces()),
        ),
        "otlp-logs": lambda: logs_pb(otlp_logs(mutate=lambda r, i: setattr(r, "span_id", b"\x01") if i == 1 else None)),
        "rest-traces": lambda: rest_json(rest_traces(mutate=rest_mutate("trace_id", "not-hex"))),
        "rest-scores": lambda: rest_json(rest_scores(mutate=rest_mutate("trace_id", "zz" * 16))),
    },
    "negative or huge timestamps": {
        "otlp-traces": lambda: traces_pb(otlp_traces(mutate=wild_time_span)),
        "otlp-traces-json": lambda: traces_json(otlp_traces(mutate=wild_time_span)),
        "otlp-logs": lambda: logs_pb(
            otlp_logs(mutate=lambda r, i: setattr(r, "time_unix_nano", 2**64 - 1) if i == 0 else None)
        ),
        "rest-traces": lambda: rest_json(rest_traces(mutate=rest_mutate("started_at", "9999-12-31T23:59:59Z"))),
        "rest-traces-old": lambda: rest_json(rest_traces(mutate=rest_mutate("started_at", "0001-01-01T00:00:00Z"))),
        "rest-scores": lambda: rest_json(rest_scores(mutate=rest_mutate("value", -1e308))),
    },
    "NUL byte": {
        "otlp-traces": lambda: traces_pb(otlp_traces(mutate=nul_span)),
        "otlp-traces-json": lambda: traces_json(otlp_traces(mutate=nul_span)),
        "otlp-logs": lambda: logs_pb(otlp_logs(mutate=nul_log)),
        "rest-traces": lambda: rest_json(rest_traces(mutate=rest_mutate("metadata", {"note": "a\u0000b"}))),
        "rest-traces-text": lambda: rest_json(rest_traces(mutate=rest_mutate("input", "a\u0000b"))),
        "rest-scores": lambda: rest_json(rest_scores(mutate=rest_mutate("explanation", "a\u0000b"))),
    },
    "deep JSON": {
        "otlp-traces": lambda: Sent(DEEP_OTLP_JSON, JSON),
        "otlp-logs": lambda: Sent(deep_json(), JSON),
        "rest-traces": lambda: Sent(deep_json(b'{"traces": '), JSON),
        "rest-scores": lambda: Sent(deep_json(b'{"scores": '), JSON),
    },
    "JSON attribute nested 2,000 deep": {
        "otlp-traces": lambda: traces_pb(otlp_traces(mutate=deep_messages)),
        "otlp-logs": lambda: logs_pb(otlp_logs(mutate=deep_messages)),
    },
    "deep protobuf": {
        "otlp-traces": lambda: traces_pb(otlp_traces(mutate=deep_any_value)),
        "otlp-logs": lambda: logs_pb(otlp_logs(mutate=deep_any_value)),
    },
    "invalid UTF-8": {
        "otlp-traces": lambda: Sent(marked(otlp_traces(mutate=utf8_span)), PB, span_items(otlp_traces())),
        "otlp-logs": lambda: Sent(
            marked(otlp_logs(mutate=lambda r, i: set_attr(r, "note", "MARKER") if i == 0 else None)),
            PB,
            log_items(otlp_logs()),
        ),
        "otlp-traces-json": lambda: Sent(
            json.dumps(otlp_json(otlp_traces(mutate=utf8_span))).encode().replace(b"MARKER", b"bad\xff"), JSON
        ),
        "rest-traces": lambda: json_with_raw_bytes(rest_traces(mutate=rest_mutate("input", "MARKER")), "MARKER"),
        "rest-scores": lambda: json_with_raw_bytes(rest_scores(mutate=rest_mutate("label", "MARKER")), "MARKER"),
    },
    "chunked": {
        "otlp-traces": lambda: chunked(traces_pb(otlp_traces())),
        "otlp-traces-json": lambda: chunked(traces_json(otlp_traces())),
        "otlp-logs": lambda: chunked(logs_pb(otlp_logs())),
        "rest-traces": lambda: chunked(rest_json(rest_traces())),
        "rest-scores": lambda: chunked(rest_json(rest_scores())),
    },
    "good (the control)": {
        "otlp-traces": lambda: traces_pb(otlp_traces()),
        "otlp-traces-json": lambda: traces_json(otlp_traces()),
        "otlp-logs": lambda: logs_pb(otlp_logs()),
        "rest-traces": lambda: rest_json(rest_traces()),
        "rest-scores": lambda: rest_json(rest_scores()),
    },
}

PATHS = {"otlp-traces": "/v1/traces", "otlp-logs": "/v1/logs", "rest-traces": "/api/v1/traces"}
PATHS |= {"rest-scores": "/api/v1/scores"}


def path_of(endpoint: str) -> str:
    return next(path for name, path in PATHS.items() if endpoint.startswith(name))


BATTERY = [(case, endpoint) for case, builders in CASES.items() for endpoint in builders]


def send(base_url: str, endpoint: str, sent: Sent, api_key: str) -> tuple[int, bytes, str]:
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": sent.content_type, **sent.headers}
    if sent.declared_length is None:
        response = requests.post(base_url + path_of(endpoint), data=sent.body, headers=headers, timeout=60)
        return response.status_code, response.content, response.headers.get("Content-Type", "")
    # A Content-Length the body does not have: only http.client lets a test lie like that.
    url = urlparse(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.putrequest("POST", path_of(endpoint))
        for name, value in {**headers, "Content-Length": str(sent.declared_length)}.items():
            conn.putheader(name, value)
        conn.endheaders(sent.body)
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Content-Type", "")
    finally:
        conn.close()


def acknowledged(endpoint: str, sent: Sent, body: bytes, content_type: str) -> list[str]:
    """The items a 2xx answer acknowledged: all sent, minus those it says it rejected."""
    if endpoint.startswith("otlp"):
        if "json" in content_type:
            partial = json.loads(body or b"{}").get("partialSuccess", {})
            rejected = int(partial.get("rejectedSpans", partial.get("rejectedLogRecords", 0)))
        else:
            cls = ExportTraceServiceResponse if endpoint.startswith("otlp-traces") else ExportLogsServiceResponse
            parsed = cls.FromString(body).partial_success
            rejected = getattr(parsed, "rejected_spans", 0) or getattr(parsed, "rejected_log_records", 0)
        assert rejected <= len(sent.items)
        # A count only: the stored set must then be exactly len(sent) - rejected of the sent items.
        return sent.items[: len(sent.items) - rejected] if rejected else list(sent.items)
    answer = json.loads(body)
    refused = {r["index"] for r in answer["rejected"]}
    items = [item for i, item in enumerate(sent.items) if i not in refused]
    assert answer["accepted"] == len(items)
    return items


def stored(endpoint: str, project: Any, sent: Sent) -> set[str]:
    """Which of the sent items are in the database now."""
    if endpoint.startswith("otlp-traces"):
        return set(Span.objects.filter(project=project, span_id__in=sent.items).values_list("span_id", flat=True))
    if endpoint.startswith("otlp-logs"):
        rows = PendingSpanContent.objects.filter(project=project, span_id__in=sent.items)
        return set(rows.values_list("span_id", flat=True))
    if endpoint.startswith("rest-traces"):
        return set(Trace.objects.filter(project=project, trace_id__in=sent.items).values_list("trace_id", flat=True))
    return set(Score.objects.filter(project=project, name__in=sent.items).values_list("name", flat=True))


@pytest.mark.parametrize(("case", "endpoint"), BATTERY, ids=[f"{c}-{e}" for c, e in BATTERY])
def test_bad_input_battery(gunicorn_url, api_key, project, case, endpoint):
    traces_ensure(project=project, started={SCORED_TRACE: datetime(2026, 11, 27, tzinfo=UTC)})
    sent = CASES[case][endpoint]()
    status, body, content_type = send(gunicorn_url, endpoint, sent, api_key)
    assert status < 500, body[:500]
    now_stored = stored(endpoint, project, sent)
    if 200 <= status < 300:
        expected = acknowledged(endpoint, sent, body, content_type)
        # Every acknowledged item is in the database (for OTLP, whose answer is a count, the count matches).
        assert len(now_stored) == len(expected), (case, endpoint, body[:300])
        if not endpoint.startswith("otlp"):
            assert now_stored == set(expected)
    else:
        assert 400 <= status < 500
        assert not now_stored, "a refused request stored nothing"
    if case == "good (the control)" or case == "chunked":
        assert 200 <= status < 300 and len(now_stored) == len(sent.items), body[:300]
