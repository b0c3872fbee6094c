"""The list's plain row function answers exactly what TraceListOutputSerializer (the documented schema) would."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.template.defaultfilters import truncatechars

from apps.traces.api.serializers import TraceListOutputSerializer, trace_list_rows
from apps.traces.models import Trace
from apps.traces.selectors import LIST_PREVIEW_CHARS, TraceFilters, trace_page
from apps.traces.templatetags.traces_ui import clip, list_row_cells
from tests.traces.factories import simple_trace

pytestmark = pytest.mark.django_db


def _realistic_traces(project) -> None:
    """Traces with what real rows hold: unicode and long texts, tags, errors, missing tokens and cost, feedback."""
    start = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    texts = ["", "short", "Ünïcode " + "é" * 400, "answer " * 300, 'quotes " and \\ and \n newlines']
    for n in range(12):
        simple_trace(
            project,
            at=start + timedelta(minutes=n, microseconds=n * 1371),
            duration_ms=123.456 * (n + 1),
            name=f"request {n}" if n % 5 else "",
            model=f"model-{n % 3}",
            route=f"/route/{n % 2}",
            environment="production" if n % 2 else "",
            prompt_version=f"v{n}",
            session_id=f"sess-{n // 4}",
            user_id=f"user-{n}" if n % 3 else "",
            tags=["beta", f"t{n}"] if n % 2 else [],
            input_text=texts[n % len(texts)],
            output_text=texts[(n + 2) % len(texts)],
            input_tokens=10 * n if n % 4 else None,
            output_tokens=3 * n if n % 4 else None,
            total_tokens=13 * n if n % 4 else None,
            cost_total=0.00125 * n if n % 4 else None,
            status="error" if n % 4 == 3 else "ok",
            error_message="boom " * n if n % 4 == 3 else "",
        )
    Trace.objects.filter(project=project, started_at__lt=start + timedelta(minutes=3)).update(has_feedback=True)


@pytest.mark.parametrize("include_content", [False, True])
def test_plain_rows_equal_the_serializer_json(project, include_content):
    _realistic_traces(project)
    kwargs = {"project": project, "filters": TraceFilters(), "limit": 50, "preview_chars": LIST_PREVIEW_CHARS}
    rows, _ = trace_page(**kwargs, content=include_content)
    dicts, _ = trace_page(**kwargs, content=include_content, as_dicts=True)
    assert len(rows) == len(dicts) == 12
    expected = TraceListOutputSerializer(rows, many=True, context={"include_content": include_content}).data
    got = trace_list_rows(dicts, include_content=include_content)
    # The same JSON text, key order included.
    assert json.dumps(got) == json.dumps(expected)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"since": "2026-11-27T10:03:00Z"},
        {"until": "2026-11-27T10:05:00Z", "since": "2026-11-20"},
        {"model": "model-1", "route": "/route/1"},
        {"environment": "production", "status": "error"},
        {"session_id": "sess-1", "user_id": "user-5"},
        {"prompt_version": "v7"},
        {"tag": "beta"},
        {"tag": "beta,t3"},
        {"has_feedback": "true"},
        {"has_feedback": "false"},
        {"q": "answer"},
        {"q": "ÜNÏ"},
        {"q": "re"},
        {"q": "100%_\\"},
        {"q": "1\x1fshort"},  # in the combined search text (name, chr(31), input), in no column
    ],
)
def test_sql_rows_follow_every_filter_as_the_orm_did(project, query):
    _realistic_traces(project)
    filters = TraceFilters.from_query(query)
    kwargs = {"project": project, "filters": filters, "limit": 4, "preview_chars": LIST_PREVIEW_CHARS}
    pages_orm, pages_sql, cursor_orm, cursor_sql = [], [], "", ""
    for _ in range(5):  # every page, through the cursors
        rows, cursor_orm = trace_page(**kwargs, cursor=cursor_orm)
        dicts, cursor_sql = trace_page(**kwargs, cursor=cursor_sql, as_dicts=True)
        pages_orm.append(TraceListOutputSerializer(rows, many=True, context={"include_content": False}).data)
        pages_sql.append(trace_list_rows(dicts, include_content=False))
        assert cursor_orm == cursor_sql
        if not cursor_orm:
            break
    assert json.dumps(pages_sql) == json.dumps(pages_orm)


def test_dict_rows_page_with_the_same_cursor(project):
    _realistic_traces(project)
    kwargs = {"project": project, "filters": TraceFilters(), "limit": 5, "preview_chars": LIST_PREVIEW_CHARS}
    _, cursor = trace_page(**kwargs)
    _, dict_cursor = trace_page(**kwargs, as_dicts=True)
    assert cursor and cursor == dict_cursor


@pytest.mark.parametrize(
    "text", ["", "short", "x" * 200, "x" * 201, "é" * 300, "e\u0301" * 250, "a" * 199 + "é", "<b>&amp;</b>" * 40]
)
def test_clip_is_truncatechars(text):
    for length in (1, 60, 200, 1000):
        assert clip(text, length) == truncatechars(text, length)
    assert clip(None, 10) == truncatechars(None, 10)


# The list page's row cells as the template made them before list_row_cells (filters per row).
OLD_ROW = (
    "{% load timefmt traces_ui %}{% url 'traces:detail' slug t.trace_id as trace_url %}"
    "{{ trace_url }}|{{ t.started_at|iso }}|{{ t.name|default:t.trace_id|truncatechars:60 }}|"
    "{{ t|preview_title:'input' }}|{{ t.input_preview|truncatechars:200 }}|"
    "{% if t.status == 'error' and not t.output_length %}{{ t.error|truncatechars:1000 }}{% else %}"
    "{{ t|preview_title:'output' }}{% endif %}|"
    "{% if t.status == 'error' and not t.output_length %}<span>{{ t.error|truncatechars:200 }}</span>{% else %}"
    "{{ t.output_preview|truncatechars:200 }}{% endif %}|{{ t.latency_ms|ms }}|{{ t.total_tokens|num }}|{{ t.cost|usd }}"
)
NEW_ROW = (
    "{{ t.url }}|{{ t.started_iso }}|{{ t.name_cell }}|{{ t.input_title }}|{{ t.input_cell }}|{{ t.output_title }}|"
    "{% if t.shows_error %}<span>{{ t.output_cell }}</span>{% else %}{{ t.output_cell }}{% endif %}|"
    "{{ t.latency_cell }}|{{ t.tokens_cell }}|{{ t.cost_cell }}"
)


def test_row_cells_render_what_the_row_filters_did(project):
    _realistic_traces(project)
    simple_trace(project, status="error", error_message="<b>failed</b> " * 100, output_text="", name="")
    rows, _ = trace_page(project=project, filters=TraceFilters(), limit=50, preview_chars=1000, as_dicts=True)
    old = [Template(OLD_ROW).render(Context({"t": dict(row), "slug": project.slug})) for row in rows]
    new = [Template(NEW_ROW).render(Context({"t": row})) for row in list_row_cells(rows, project_slug=project.slug)]
    assert new == old
    assert sum("<span>" in cells for cells in new) >= 1  # an error row without output shows its error


def test_the_list_api_json_parses_equal_to_drfs_renderer(project, api_client):
    from rest_framework.renderers import JSONRenderer

    _realistic_traces(project)
    for query in ({"limit": 5}, {"include": "content"}, {"tag": "beta", "q": "answer"}):
        response = api_client.get("/api/v1/traces", query)
        assert response.status_code == 200 and response["Content-Type"] == "application/json"
        assert response.json() == json.loads(JSONRenderer().render(response.data))
        assert response.json()["results"]
