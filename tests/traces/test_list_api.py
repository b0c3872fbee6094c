"""The trace list's rows: previews instead of whole texts (opt-in with include=content), cost_source, filter choices."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from apps.projects.services import project_create
from apps.traces.models import Trace, TraceDimensionValue
from apps.traces.selectors import LIST_PREVIEW_CHARS, trace_facets
from apps.traces.services import spans_ingest
from tests.traces.factories import new_trace_id, span

pytestmark = pytest.mark.django_db

LONG_INPUT = "Ünïcode question " + "é" * 400  # multi-byte characters: the preview counts characters
LONG_OUTPUT = "answer " * 300


def a_trace(n: int, **fields) -> dict:
    started = datetime(2026, 11, 27, 10, 0, tzinfo=UTC) + timedelta(minutes=n)
    return {
        "trace_id": f"{n + 1:032x}",
        "name": f"request {n}",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(milliseconds=800)).isoformat(),
        "input": f"question {n}",
        "output": f"answer {n}",
        **fields,
    }


def _post(api_client, *traces: dict) -> None:
    response = api_client.post("/api/v1/traces", {"traces": list(traces)}, format="json")
    assert response.status_code == 200 and response.json()["rejected"] == [], response.content


def test_list_rows_carry_previews_and_lengths_not_whole_texts(api_client, project):
    _post(api_client, a_trace(0, input=LONG_INPUT, output=LONG_OUTPUT), a_trace(1, input="short", output=""))
    rows = api_client.get("/api/v1/traces").json()["results"]
    long, short = rows[1], rows[0]
    assert "input" not in long and "output" not in long
    assert long["input_preview"] == LONG_INPUT[:LIST_PREVIEW_CHARS]
    assert (long["input_length"], long["input_truncated"]) == (len(LONG_INPUT), True)
    assert long["output_preview"] == LONG_OUTPUT[:LIST_PREVIEW_CHARS]
    assert (long["output_length"], long["output_truncated"]) == (len(LONG_OUTPUT), True)
    assert (short["input_preview"], short["input_length"], short["input_truncated"]) == ("short", 5, False)
    assert (short["output_preview"], short["output_length"], short["output_truncated"]) == ("", 0, False)


def test_include_content_adds_the_whole_texts_and_the_detail_always_has_them(api_client, project):
    _post(api_client, a_trace(0, input=LONG_INPUT, output=LONG_OUTPUT))
    row = api_client.get("/api/v1/traces", {"include": "content"}).json()["results"][0]
    assert (row["input"], row["output"]) == (LONG_INPUT, LONG_OUTPUT)
    assert row["input_truncated"] is True  # the preview fields stay, so a client reads one shape
    detail = api_client.get(f"/api/v1/traces/{a_trace(0)['trace_id']}").json()
    assert (detail["input"], detail["output"]) == (LONG_INPUT, LONG_OUTPUT)


def test_an_unknown_include_is_a_400_naming_it(api_client, project):
    response = api_client.get("/api/v1/traces", {"include": "content,spans"})
    assert response.status_code == 400
    assert response.json()["field"] == "include" and "spans" in response.json()["error"]


def test_a_page_of_fifty_long_traces_is_small(api_client, project):
    """The issue's figure: a page of 50 was 68 KB with whole texts; with previews it is a fraction of it."""
    _post(api_client, *[a_trace(n, input=LONG_INPUT, output=LONG_OUTPUT) for n in range(50)])
    preview = len(api_client.get("/api/v1/traces", {"limit": 50}).content)
    full = len(api_client.get("/api/v1/traces", {"limit": 50, "include": "content"}).content)
    assert preview < 50 * 1400 < full
    assert preview < full / 2


def test_the_list_reads_no_whole_text_and_looks_in_the_newest_windows_first(
    api_client, project, django_assert_max_num_queries
):
    _post(api_client, *[a_trace(n, input=LONG_INPUT) for n in range(5)])
    # Key lookup and touch, then the page: the newest day, week, month, then everything (a sparse project).
    with django_assert_max_num_queries(6) as captured:
        rows = api_client.get("/api/v1/traces").json()["results"]
    assert len(rows) == 5
    page_sql = [q["sql"] for q in captured.captured_queries if 'FROM "traces_trace"' in q["sql"]]
    assert 1 <= len(page_sql) <= 4
    for sql in page_sql:
        select_list = sql.split(" FROM ")[0]
        for column in ('"traces_trace"."input_text"', '"traces_trace"."output_text"'):
            assert f"LEFT({column}, {LIST_PREVIEW_CHARS})" in select_list
            bare = select_list.replace(f"LEFT({column}", "").replace(f"LENGTH({column}", "")
            assert column not in bare  # the whole text is not read
    assert all('"partition_at" >=' in sql for sql in page_sql[:-1])  # the windows bound the partitions


def test_a_busy_project_finds_its_page_in_the_newest_day(api_client, project, django_assert_max_num_queries):
    now = datetime.now(UTC)
    traces = [
        {**a_trace(n), "started_at": (now - timedelta(minutes=n)).isoformat(), "ended_at": None} for n in range(12)
    ]
    _post(api_client, *traces)
    with django_assert_max_num_queries(3) as captured:
        page = api_client.get("/api/v1/traces", {"limit": 10}).json()
    assert [r["trace_id"] for r in page["results"]] == [t["trace_id"] for t in traces[:10]]
    assert len([q for q in captured.captured_queries if 'FROM "traces_trace"' in q["sql"]]) == 1
    rest = api_client.get("/api/v1/traces", {"limit": 10, "cursor": page["next_cursor"]}).json()
    assert [r["trace_id"] for r in rest["results"]] == [t["trace_id"] for t in traces[10:]]


def test_cost_source_is_in_the_list_and_the_detail(api_client, project):
    reported = a_trace(0, model="gpt-4o-mini", cost=0.002, usage={"input_tokens": 100, "output_tokens": 10})
    computed = a_trace(1, model="gpt-4o-mini", usage={"input_tokens": 1000, "output_tokens": 100})
    bare = a_trace(2)
    _post(api_client, reported, computed, bare)
    rows = {r["trace_id"]: r for r in api_client.get("/api/v1/traces").json()["results"]}
    assert rows[reported["trace_id"]]["cost_source"] == "reported"
    assert rows[computed["trace_id"]]["cost_source"] == "computed" and rows[computed["trace_id"]]["cost"] > 0
    assert rows[bare["trace_id"]]["cost_source"] == "" and rows[bare["trace_id"]]["cost"] is None
    detail = api_client.get(f"/api/v1/traces/{computed['trace_id']}").json()
    assert detail["cost_source"] == "computed"


def test_the_schema_documents_previews_include_and_cost_source(api_client):
    schema = json.loads(api_client.get("/api/schema/", HTTP_ACCEPT="application/json").content)
    get = schema["paths"]["/api/v1/traces"]["get"]
    include = next(p for p in get["parameters"] if p["name"] == "include")
    assert include["schema"]["enum"] == ["content"]
    components = schema["components"]["schemas"]

    def resolve(node: dict) -> dict:
        return components[node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else node

    envelope = resolve(get["responses"]["200"]["content"]["application/json"]["schema"])
    row = resolve(envelope["properties"]["results"]["items"])
    assert {"input_preview", "input_length", "input_truncated", "cost_source", "input"} <= set(row["properties"])
    assert "input" not in row["required"] and "input_preview" in row["required"]


def test_filter_choices_come_from_the_values_ingest_recorded(api_client, project, django_assert_max_num_queries):
    _post(
        api_client,
        a_trace(0, route="/chat", model="gpt-4o", prompt_version="v1", environment="prod"),
        a_trace(1, route="/search", model="gpt-4o", environment="staging"),
        a_trace(2),
    )
    with django_assert_max_num_queries(1):
        facets = trace_facets(project=project)
    assert facets == {
        "route": ["/chat", "/search"],
        "model": ["gpt-4o"],
        "prompt_version": ["v1"],
        "environment": ["prod", "staging"],
    }
    # A later span can change a stored trace's dimension (the trace is recomputed): its new value becomes a choice.
    trace_id = new_trace_id()
    spans_ingest(project=project, spans=[span(trace_id, start_ms=0, duration_ms=50, is_root=True, kind="chain")])
    spans_ingest(project=project, spans=[span(trace_id, start_ms=10, duration_ms=20, kind="llm", route="/late")])
    assert Trace.objects.get(trace_id=trace_id).route == "/late"
    assert "/late" in trace_facets(project=project)["route"]
    assert TraceDimensionValue.objects.filter(project=project, dimension="model").count() == 1  # stored once


def test_filter_choices_are_per_project(api_client, project, carol):
    _post(api_client, a_trace(0, route="/mine"))
    other = project_create(name="Other", owner=carol)
    assert trace_facets(project=other)["route"] == []
    assert trace_facets(project=project)["route"] == ["/mine"]


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"since": "2026-11-28T00:00:00Z", "until": "2026-11-27T00:00:00Z"}, "until", "after since"),
        ({"since": "2026-11-27T00:00:00Z", "until": "2026-11-27T00:00:00Z"}, "until", "after since"),
        ({"score": "no_such_metric:failed"}, "score", "no_such_metric"),
        ({"score": "refusal<<1"}, "score", "name:failed"),
    ],
)
def test_an_empty_range_or_an_unknown_metric_is_a_400_naming_the_field_not_an_empty_list(
    api_client, client, alice, project, params, field, words
):
    _post(api_client, a_trace(0))
    response = api_client.get("/api/v1/traces", params)
    assert response.status_code == 400
    assert response.json()["field"] == field and words in response.json()["error"]
    client.force_login(alice)
    page = client.get(f"/p/{project.slug}/traces/", params)
    assert page.status_code == 400
    html = page.content.decode()
    assert 'data-testid="filter-error"' in html and f"<strong>{field}</strong>" in html
