"""Full-text search (`q`) over trace ids, names, inputs and outputs: the API, the list page and the index."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse

from apps.traces.selectors import TraceFilters, trace_list
from tests.traces.factories import BASE_TIME, simple_trace

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def corpus(project):
    """Three traces: the password one says 'password' only in its input, the refund one only in its output."""
    return {
        "password": simple_trace(
            project, name="chat", input_text="How do I reset my Password?", output_text="Go to Settings.", at=BASE_TIME
        ),
        "refund": simple_trace(
            project,
            name="chat",
            input_text="Where is my money?",
            output_text="Refunds take 5 business days.",
            at=BASE_TIME + timedelta(minutes=1),
        ),
        "weather": simple_trace(
            project, name="weather", input_text="Rain today?", output_text="No.", at=BASE_TIME + timedelta(minutes=2)
        ),
    }


def api_ids(api_client, **params: str) -> list[str]:
    response = api_client.get("/api/v1/traces", params)
    assert response.status_code == 200, response.content
    return [row["trace_id"] for row in response.json()["results"]]


def test_api_q_matches_input_output_name_and_id_case_insensitively(api_client, corpus):
    assert api_ids(api_client, q="password") == [corpus["password"].trace_id]
    assert api_ids(api_client, q="BUSINESS DAYS") == [corpus["refund"].trace_id]
    assert api_ids(api_client, q="weath") == [corpus["weather"].trace_id]
    assert api_ids(api_client, q=corpus["refund"].trace_id.upper()) == [corpus["refund"].trace_id]
    assert api_ids(api_client, q="day") == [corpus["weather"].trace_id, corpus["refund"].trace_id]  # today, days
    assert api_ids(api_client, q="nothing like this") == []


def test_api_q_combines_with_other_filters(api_client, corpus):
    assert api_ids(api_client, q="day", until="2025-03-14T09:28:30Z") == [corpus["refund"].trace_id]


def test_api_q_wildcards_are_literal(api_client, corpus):
    assert api_ids(api_client, q="%%%") == []
    assert api_ids(api_client, q="e_s") == []


def test_api_q_too_long_is_a_400_naming_q(api_client, corpus):
    response = api_client.get("/api/v1/traces", {"q": "x" * 201})
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "q"
    assert "at most 200 characters" in body["error"]


def test_api_q_shorter_than_a_trigram_searches_names_as_before(api_client, corpus):
    assert api_ids(api_client, q="WE") == [corpus["weather"].trace_id]  # in a name
    assert api_ids(api_client, q="No") == []  # only in an output ("No."): too short for the full-text search


def test_list_page_search_box_filters_rows(client, alice, project, corpus):
    client.force_login(alice)
    url = reverse("traces:list", args=[project.slug])
    html = client.get(url, {"q": "refunds"}, **HTMX).content.decode()
    assert corpus["refund"].trace_id in html and corpus["password"].trace_id not in html
    page = client.get(url, {"q": "refunds"}).content.decode()
    assert 'name="q"' in page and 'value="refunds"' in page


def test_list_page_too_long_search_shows_the_message(client, alice, project, corpus):
    client.force_login(alice)
    response = client.get(reverse("traces:list", args=[project.slug]), {"q": "re" * 101}, **HTMX)
    assert response.status_code == 400
    assert "Invalid filter <strong>q</strong>" in response.content.decode()


def test_search_filters_bare_columns_with_ilike(project, corpus):
    """`q` compiles to `column ILIKE …` (not Django's UPPER(column) LIKE, which no index on the column serves)."""
    sql, _ = trace_list(project=project, filters=TraceFilters(q="password")).query.sql_with_params()
    for column in ("name", "input_text", "output_text"):
        assert f'"traces_trace"."{column}" ILIKE %s' in sql, sql


@pytest.mark.parametrize("column", ["name", "input_text", "output_text"])
def test_trigram_index_serves_ilike_on_each_column(project, corpus, column):
    """With sequential scans priced out, ILIKE '%…%' on the column reads its trigram GIN index (on every partition)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN SELECT id FROM traces_trace WHERE {column} ILIKE %s", ["%password%"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Bitmap Index Scan" in plan and f"_{column}_idx" in plan, plan
    assert "Seq Scan" not in plan, plan
