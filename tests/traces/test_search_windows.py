"""The trace list reads newest-first pages from disjoint time slices (day, rest of the week, rest of the month,
the rest): every row is in exactly one slice, and a page equals the plain newest-first read of the filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from apps.traces.models import Trace
from apps.traces.selectors import PAGE_WINDOWS, TraceFilters, page_slices, trace_list, trace_page
from tests.traces.factories import simple_trace

TOP = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _holders(slices, t):
    return [(lo, hi) for lo, hi in slices if (lo is None or t >= lo) and (hi is None or t < hi)]


@given(
    offset=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=90)),
    since_back=st.one_of(st.none(), st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60))),
)
def test_every_instant_before_top_is_in_exactly_one_slice(offset, since_back):
    since = None if since_back is None else TOP - since_back
    slices = page_slices(top=TOP, since=since)
    assert len(_holders(slices, TOP - offset)) == 1
    assert len(_holders(slices, TOP + timedelta(seconds=1))) == 1  # a row from top on: the first slice
    # Newest first: each slice ends where the previous one starts.
    for (lower, _), (_, upper) in zip(slices, slices[1:], strict=False):
        assert lower == upper


def test_slices_without_since_are_day_week_month_rest():
    assert page_slices(top=TOP, since=None) == [
        (TOP - PAGE_WINDOWS[0], None),
        (TOP - PAGE_WINDOWS[1], TOP - PAGE_WINDOWS[0]),
        (TOP - PAGE_WINDOWS[2], TOP - PAGE_WINDOWS[1]),
        (None, TOP - PAGE_WINDOWS[2]),
    ]


def test_a_since_inside_the_week_ends_the_slices_open_below():
    assert page_slices(top=TOP, since=TOP - timedelta(days=3)) == [
        (TOP - PAGE_WINDOWS[0], None),
        (None, TOP - PAGE_WINDOWS[0]),
    ]


@pytest.fixture
def spread(project):
    """Traces now, hours, days, weeks and two months back, some matching `kangaroo`."""
    now = timezone.now()
    ages = [
        timedelta(minutes=5),
        timedelta(hours=3),
        timedelta(hours=23, minutes=59),
        timedelta(days=1, minutes=1),
        timedelta(days=3),
        timedelta(days=6, hours=23),
        timedelta(days=7, minutes=1),
        timedelta(days=20),
        timedelta(days=31, minutes=1),
        timedelta(days=45),
        timedelta(days=70),
    ]
    traces = []
    for i, age in enumerate(ages):
        text = "a kangaroo question" if i % 3 == 0 else "a plain question"
        traces.append(simple_trace(project, at=now - age, input_text=text))
    return traces


def _all_pages(project, filters, limit):
    out, cursor = [], ""
    while True:
        rows, cursor = trace_page(project=project, filters=filters, cursor=cursor, limit=limit)
        out += [row.pk for row in rows]
        if not cursor:
            return out


@pytest.mark.django_db
@pytest.mark.parametrize("limit", [1, 2, 3, 50])
@pytest.mark.parametrize("q", ["", "kangaroo"])
def test_pages_equal_the_plain_newest_first_read(project, spread, limit, q):
    filters = TraceFilters(q=q)
    expected = list(trace_list(project=project, filters=filters).values_list("pk", flat=True))
    assert expected  # the fixture has rows of both kinds
    assert _all_pages(project, filters, limit) == expected


@pytest.mark.django_db
def test_pages_with_since_equal_the_plain_read(project, spread):
    filters = TraceFilters(since=timezone.now() - timedelta(days=10))
    expected = list(trace_list(project=project, filters=filters).values_list("pk", flat=True))
    assert len(expected) == 7
    assert _all_pages(project, filters, 2) == expected


@pytest.mark.django_db
def test_a_no_match_search_reads_each_slice_once(project, spread):
    with CaptureQueriesContext(connection) as queries:
        rows, cursor = trace_page(project=project, filters=TraceFilters(q="zeppelin"), limit=50)
    assert rows == [] and cursor == ""
    reads = [q["sql"] for q in queries.captured_queries if 'FROM "traces_trace"' in q["sql"]]
    assert len(reads) == len(PAGE_WINDOWS) + 1
    # Every slice but the first is bounded above, so none re-reads the newer ones.
    assert all('"traces_trace"."started_at" <' in sql for sql in reads[1:])
    assert Trace.objects.filter(project=project).count() == len(spread)
