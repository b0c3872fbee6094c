"""POST /v1/traces with a NUL, a 2,000-deep JSON attribute and a time past 2100 in one batch: all stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from apps.traces.models import Span
from apps.traces.normalize import WARNINGS_ATTR
from tests.traces.test_normalize import make_span

pytestmark = pytest.mark.django_db

DEEP = "[" * 2000 + "]" * 2000


def test_poison_values_are_stored_cleaned_and_flagged(client, api_key, project) -> None:
    spans = {
        "1111111111111111": make_span({"app.note": "a\x00b", "gen_ai.request.model": "gpt-4o"}, name="nul\x00"),
        "2222222222222222": make_span({"gen_ai.operation.name": "chat", "gen_ai.input.messages": DEEP}),
        "3333333333333333": make_span({}, end=2**64 - 1),
        "4444444444444444": make_span({"app.note": "fine"}),
    }
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for span_id, raw in spans.items():
        raw.span.span_id = bytes.fromhex(span_id)
        scope_spans.spans.append(raw.span)
    response = client.post(
        "/v1/traces",
        data=request.SerializeToString(),
        content_type="application/x-protobuf",
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )
    assert response.status_code == 200
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    rows = {s.span_id: s for s in Span.objects.filter(project=project)}
    assert set(rows) == set(spans)

    nul = rows["1111111111111111"]
    assert (nul.name, nul.attributes["app.note"], nul.model) == ("nul", "ab", "gpt-4o")
    assert set(nul.attributes[WARNINGS_ATTR]) == {"nul_stripped:app.note", "nul_stripped:name"}

    deep = rows["2222222222222222"]
    assert deep.raw_input == DEEP and deep.input_messages == []
    assert deep.attributes[WARNINGS_ATTR] == ["json_too_deep:gen_ai.input.messages"]

    late = rows["3333333333333333"]
    assert late.ended_at == datetime(2100, 1, 1, tzinfo=UTC)
    assert late.attributes[WARNINGS_ATTR] == ["timestamp_clamped:end"]

    assert WARNINGS_ATTR not in rows["4444444444444444"].attributes
