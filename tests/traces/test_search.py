"""Full-text search (`q`) over trace ids, names, inputs and outputs: the API, the list page and the index."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F, Q
from django.urls import reverse

from apps.traces.models import Trace
from apps.traces.selectors import ILike, ListRowsSQL, TraceFilters, like_contains_pattern, trace_list, trace_search_q
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


def test_search_asks_the_combined_text_on_bare_columns(project, corpus):
    """`q` compiles to `(name || chr(31) || …) ILIKE …` on the bare columns (what trace_text_trgm answers), not
    Django's UPPER(…) LIKE, which no index serves; with chr(31) in `q` the per-column conditions decide too."""
    sql, _ = trace_list(project=project, filters=TraceFilters(q="password")).query.sql_with_params()
    combined = '("traces_trace"."name" || chr(31) || "traces_trace"."input_text" || chr(31) || '
    assert combined + '"traces_trace"."output_text") ILIKE %s)' in sql, sql
    assert '"traces_trace"."input_text" ILIKE' not in sql, sql
    sql, _ = trace_list(project=project, filters=TraceFilters(q="pass" + chr(31) + "word")).query.sql_with_params()
    assert combined + '"traces_trace"."output_text") ILIKE %s AND (' in sql, sql
    for column in ("name", "input_text", "output_text"):
        assert f'"traces_trace"."{column}" ILIKE %s' in sql, sql


def _per_column(text: str) -> Q:
    """The search before one combined index: the id, or ILIKE on each column."""
    pattern = like_contains_pattern(text)
    columns = [Q(ILike(F(c), pattern)) for c in ("name", "input_text", "output_text")]
    return Q(trace_id=text.lower()) | columns[0] | columns[1] | columns[2]


def test_combined_search_finds_what_the_per_column_search_found(project):
    """Case folding across columns (final sigma, dotted I, sharp s), wildcards, backslashes, control characters."""
    sep = chr(31)
    texts = ["ΟΔΟΣ", "οδος", "İstanbul", "STRASSE straße", "100%_\\ done", "tab\there", "a" + sep + "b", ""]
    for n, (name, inp, out) in enumerate(zip(texts, texts[1:] + texts[:1], texts[2:] + texts[:2], strict=True)):
        simple_trace(project, name=name, input_text=inp, output_text=out, at=BASE_TIME + timedelta(minutes=n))
    queries = ["ΟΣ" + sep, "ος" + sep, "σοδ", "οσ" + sep + "ο", "İst", "istan", "straß", "ASSE", "%_\\", "0%_"]
    queries += ["\tH", "a" + sep + "b", "b" + sep + "ο", "Σ" + sep + "ο", "s" + sep + "i", "ne" + sep + "ΟΔ"]
    for q in queries + [t for t in texts if t] + [t[1:] for t in texts if len(t) > 3]:
        if len(q) < 3:
            continue
        expected = sorted(Trace.objects.filter(project=project).filter(_per_column(q)).values_list("id", flat=True))
        got = sorted(Trace.objects.filter(project=project).filter(trace_search_q(q)).values_list("id", flat=True))
        assert got == expected, q


def test_search_matches_no_text_straddling_two_columns(api_client, project, corpus):
    """The combined text joins the columns with chr(31); a match across the join is not a match in a column."""
    assert api_ids(api_client, q="chat" + chr(31) + "How") == []
    assert api_ids(api_client, q="Password?" + chr(31) + "Go") == []  # (q is stripped: chr(31) is whitespace)
    assert api_ids(api_client, q="my Password?") == [corpus["password"].trace_id]


def _plan(sql: str, params: list) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_trigram_index_serves_the_search_on_every_partition(project, corpus):
    """With sequential scans priced out, the search condition (ORM and SQL text alike) reads the one trigram index."""
    sql, params = Trace.objects.filter(trace_search_q("password")).values("id").query.sql_with_params()
    orm_plan = _plan(sql, list(params))
    listed = ListRowsSQL.build(
        project_id=project.pk, filters=TraceFilters(q="password"), cursor="", preview_chars=0, content=False
    )
    raw_plan = _plan(f"SELECT id FROM traces_trace WHERE {listed.where[-1]}", listed.params[-2:])
    for plan in (orm_plan, raw_plan):
        assert "Bitmap Index Scan on traces_trace_default_expr_idx" in plan, plan
        assert "Seq Scan" not in plan, plan


def test_trace_partitions_have_one_trigram_index():
    """Every trace partition (new ones are attached, which builds the parent's indexes) holds trace_text_trgm's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, count(*) FILTER (WHERE pg_get_indexdef(x.indexrelid) LIKE '%%gin_trgm_ops%%') "
            "FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid LEFT JOIN pg_index x ON x.indrelid = c.oid "
            "WHERE h.inhparent = 'traces_trace'::regclass GROUP BY c.relname"
        )
        counts = dict(cursor.fetchall())
    assert counts and set(counts.values()) == {1}, counts
