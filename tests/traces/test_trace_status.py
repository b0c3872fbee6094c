"""A trace's status is derived from its spans: ok without an error span, error with one, however spans arrive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.traces.models import Trace
from apps.traces.normalize import NormalizedSpan
from apps.traces.services import spans_ingest

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TRACE = "5a" * 16


def span(span_id: str, parent: str = "", status: str = "unset", start: int = 0) -> NormalizedSpan:
    return NormalizedSpan(
        trace_id=TRACE,
        span_id=span_id,
        parent_span_id=parent,
        is_root=not parent,
        status=status,
        error_message="boom" if status == "error" else "",
        started_at=T0 + timedelta(milliseconds=start),
        ended_at=T0 + timedelta(milliseconds=start + 50),
        latency_ms=50,
    )


def status() -> str:
    return Trace.objects.get(trace_id=TRACE).status


def test_all_unset_spans_make_an_ok_trace(project):
    spans_ingest(project=project, spans=[span("1" * 16), span("2" * 16, "1" * 16, start=5)])
    assert status() == "ok"


def test_one_error_span_makes_an_error_trace_even_under_an_ok_root(project):
    spans_ingest(project=project, spans=[span("1" * 16, status="ok"), span("2" * 16, "1" * 16, "error", start=5)])
    trace = Trace.objects.get(trace_id=TRACE)
    assert (trace.status, trace.error) == ("error", "boom")


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_status_holds_when_spans_arrive_in_several_batches(project, order):
    spans = [span("1" * 16), span("2" * 16, "1" * 16, start=5), span("3" * 16, "1" * 16, "error", start=9)]
    seen = []
    for i in order:
        spans_ingest(project=project, spans=[spans[i]])
        seen.append(status())
    # Each batch's answer follows from the spans stored so far: error from the first error span on.
    first_error = order.index(2)
    assert seen == ["ok"] * first_error + ["error"] * (len(order) - first_error)


def test_unset_batches_stay_ok_after_the_root_arrives_last(project):
    spans_ingest(project=project, spans=[span("2" * 16, "1" * 16, start=5)])
    assert status() == "ok"
    spans_ingest(project=project, spans=[span("1" * 16)])
    assert status() == "ok"
