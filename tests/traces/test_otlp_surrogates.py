"""A lone UTF-16 surrogate in OTLP JSON (the JSON form of invalid UTF-8) costs nothing: it is replaced, the span kept."""

from __future__ import annotations

import pytest

from apps.traces.models import Span

pytestmark = pytest.mark.django_db

TRACE_A, SPAN_A = "0123456789abcdef0123456789abcdef", "0123456789abcdef"
TRACE_B, SPAN_B = "0123456789abcdef0123456789abcdee", "0123456789abcdee"


def _span(trace_id: str, span_id: str, name: str, attributes: str = "") -> str:
    return (
        f'{{"traceId":"{trace_id}","spanId":"{span_id}","name":"{name}",'
        '"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000",'
        f'"attributes":[{attributes}]}}'
    )


def _body(*spans: str) -> bytes:
    return (
        '{"resourceSpans":[{"resource":{"attributes":[]},"scopeSpans":[{"spans":[' + ",".join(spans) + "]}]}]}"
    ).encode()


def test_a_lone_surrogate_is_replaced_and_every_span_kept(client, api_key):
    hostile = _span(
        TRACE_A,
        SPAN_A,
        "bad\\udc00name",
        '{"key":"app.note","value":{"stringValue":"a\\ud800b"}},{"key":"k\\udfff","value":{"stringValue":"v"}}',
    )
    response = client.post(
        "/v1/traces",
        _body(hostile, _span(TRACE_B, SPAN_B, "good")),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )
    assert response.status_code == 200, response.content
    stored = {s.span_id: s for s in Span.objects.all()}
    assert set(stored) == {SPAN_A, SPAN_B}
    assert stored[SPAN_A].name == "bad\ufffdname"
    assert stored[SPAN_A].attributes["app.note"] == "a\ufffdb"
    assert stored[SPAN_A].attributes["k\ufffd"] == "v"


def test_a_paired_surrogate_escape_is_an_ordinary_character(client, api_key):
    emoji = _span(TRACE_A, SPAN_A, "smile", '{"key":"app.note","value":{"stringValue":"hi \\ud83d\\ude00"}}')
    response = client.post(
        "/v1/traces", _body(emoji), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_key}"
    )
    assert response.status_code == 200, response.content
    assert Span.objects.get(span_id=SPAN_A).attributes["app.note"] == "hi \U0001f600"
