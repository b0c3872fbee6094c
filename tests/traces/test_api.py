"""The native traces API: batches in (partial acceptance, per-item errors), filtered cursor lists and trees out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from apps.projects.services import api_key_create, project_create
from apps.traces.api.views import BATCH_EXAMPLE
from apps.traces.models import Span, Trace

pytestmark = pytest.mark.django_db


def a_trace(n: int, **fields) -> dict:
    started = datetime(2026, 11, 27, 10, 0, tzinfo=UTC) + timedelta(minutes=n)
    return {
        "trace_id": f"{n + 1:032x}",
        "name": f"request {n}",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(milliseconds=800)).isoformat(),
        "input": f"question {n}",
        "output": f"answer {n}",
        "model": "gpt-4o-mini-2024-07-18",
        **fields,
    }


def test_the_documented_example_is_accepted_and_builds_a_span_tree(api_client, project):
    response = api_client.post("/api/v1/traces", BATCH_EXAMPLE, format="json")
    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "rejected": []}
    detail = api_client.get("/api/v1/traces/4bf92f3577b34da6a3ce929d0e0e4736").json()
    assert (detail["name"], detail["route"], detail["prompt_version"]) == (
        "answer_question",
        "/support/chat",
        "support-v12",
    )
    assert detail["model"] == "gpt-4o-2024-08-06"  # from the LLM span
    assert detail["latency_ms"] == pytest.approx(2300.0)
    root, retrieval, llm = detail["spans"]  # flat, depth-first: the root, then its children in start order
    assert [(s["kind"], s["depth"]) for s in (root, retrieval, llm)] == [("chain", 0), ("retrieval", 1), ("llm", 1)]
    assert root["child_span_ids"] == [retrieval["span_id"], llm["span_id"]]
    assert retrieval["parent_span_id"] == llm["parent_span_id"] == root["span_id"]
    assert retrieval["documents"][0]["id"] == "kb-12"
    assert detail["cost"] == pytest.approx(0.00134)


def test_trace_metadata_is_the_root_spans_resource_and_attributes_read_from_the_span(api_client, project):
    assert api_client.post("/api/v1/traces", BATCH_EXAMPLE, format="json").status_code == 200
    trace = Trace.objects.get(project=project)
    root = Span.objects.get(trace=trace, is_root=True)
    assert trace.metadata == {}  # not stored twice: derived from the root span on read
    detail = api_client.get(f"/api/v1/traces/{trace.trace_id}").json()
    assert detail["metadata"] == {"resource": root.resource, "attributes": root.attributes}
    assert list(detail["metadata"]) == ["resource", "attributes"]  # jsonb's key order, as the stored column gave
    # A row stored before keeps its value when it has no root span (the recompute kept it then too).
    Span.objects.filter(trace=trace).update(is_root=False)
    Trace.objects.filter(pk=trace.pk).update(metadata={"resource": {"service.name": "old"}, "attributes": {}})
    detail = api_client.get(f"/api/v1/traces/{trace.trace_id}").json()
    assert detail["metadata"] == {"resource": {"service.name": "old"}, "attributes": {}}


def test_resending_a_batch_stores_nothing_twice(api_client, project):
    for _ in range(2):
        assert api_client.post("/api/v1/traces", BATCH_EXAMPLE, format="json").status_code == 200
    assert Trace.objects.filter(project=project).count() == 1
    assert Span.objects.filter(project=project).count() == 3


def test_bad_items_are_rejected_by_index_and_field_while_good_ones_are_kept(api_client, project):
    bad_span = a_trace(3, spans=[{"span_id": "zz", "started_at": "2026-11-27T10:00:00Z"}])
    batch = {"traces": [a_trace(0), {"trace_id": "nothex"}, a_trace(2, status="weird"), bad_span]}
    response = api_client.post("/api/v1/traces", batch, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (1, "traces[1].trace_id"),
        (2, "traces[2].status"),
        (3, "traces[3].spans[0].span_id"),
    ]
    assert "32 hex" in body["rejected"][0]["error"]
    assert Trace.objects.filter(project=project).count() == 1


def test_an_all_bad_batch_is_400_naming_the_field(api_client):
    response = api_client.post("/api/v1/traces", {"traces": [{"trace_id": "abc"}]}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "traces[0].trace_id"


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"nope": []}, "traces"), ({"traces": "x"}, "traces"), ([1, 2], "")],
)
def test_a_malformed_envelope_is_400(api_client, payload, field):
    response = api_client.post("/api/v1/traces", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert "error" in body
    if field:
        assert body["field"] == field


def test_invalid_json_is_400_not_500(api_client):
    response = api_client.generic("POST", "/api/v1/traces", b'{"traces": [', content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


def test_ended_before_started_is_rejected(api_client):
    item = a_trace(0, ended_at="2026-11-27T09:00:00Z")
    response = api_client.post("/api/v1/traces", {"traces": [item]}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "traces[0].ended_at"


def test_list_filters_and_cursor_pagination(api_client, project):
    items = [a_trace(n, route="/a" if n % 2 else "/b", tags=["beta"] if n < 3 else []) for n in range(7)]
    items[4]["status"] = "error"
    assert api_client.post("/api/v1/traces", {"traces": items}, format="json").json()["accepted"] == 7
    seen, cursor = [], ""
    while True:
        page = api_client.get("/api/v1/traces", {"limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        seen += [t["trace_id"] for t in page["results"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"{n + 1:032x}" for n in reversed(range(7))]  # newest first, each once
    assert len(api_client.get("/api/v1/traces", {"route": "/a"}).json()["results"]) == 3
    assert len(api_client.get("/api/v1/traces", {"tag": "beta"}).json()["results"]) == 3
    assert [t["name"] for t in api_client.get("/api/v1/traces", {"status": "error"}).json()["results"]] == ["request 4"]
    window = api_client.get("/api/v1/traces", {"since": "2026-11-27T10:02:00Z", "until": "2026-11-27T10:04:00Z"}).json()
    assert [t["name"] for t in window["results"]] == ["request 3", "request 2"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"status": "bad"}, "status"),
        ({"cursor": "@@@"}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"has_feedback": "maybe"}, "has_feedback"),
    ],
)
def test_bad_filters_are_400_naming_the_field(api_client, params, field):
    response = api_client.get("/api/v1/traces", params)
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_a_project_never_sees_another_projects_traces(api_client, project, carol):
    other = project_create(name="Other", owner=carol)
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(project=other, name='k').plaintext}")
    assert other_client.post("/api/v1/traces", {"traces": [a_trace(0)]}, format="json").status_code == 200
    assert api_client.get("/api/v1/traces").json()["results"] == []
    assert api_client.get(f"/api/v1/traces/{1:032x}").status_code == 404


def test_read_only_keys_can_list_but_not_ingest(project):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(project=project, name='r', scope='read').plaintext}")
    assert client.get("/api/v1/traces").status_code == 200
    response = client.post("/api/v1/traces", {"traces": [a_trace(0)]}, format="json")
    assert response.status_code == 403
    assert "read-only" in response.json()["error"]


def test_batch_example_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/?format=json").json()
    post = schema["paths"]["/api/v1/traces"]["post"]
    examples = post["requestBody"]["content"]["application/json"]["examples"]
    assert any(e["value"]["traces"][0]["trace_id"] == BATCH_EXAMPLE["traces"][0]["trace_id"] for e in examples.values())


def test_a_nul_in_one_trace_never_costs_the_others_or_a_503(api_client, project):
    items = [a_trace(n) for n in range(5)]
    items[2]["metadata"] = {"note": "a\u0000b"}  # PostgreSQL refuses NUL in jsonb
    response = api_client.post("/api/v1/traces", {"traces": items}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    stored = set(Trace.objects.filter(project=project).values_list("trace_id", flat=True))
    assert {f"{n + 1:032x}" for n in (0, 1, 3, 4)} <= stored
    if body["rejected"]:  # reported by index and field ...
        assert [(r["index"], r["field"]) for r in body["rejected"]] == [(2, "traces[2].metadata.note")]
        assert body["accepted"] == 4 and f"{3:032x}" not in stored
    else:  # ... or kept with the NUL stripped at normalization
        assert body["accepted"] == 5 and f"{3:032x}" in stored
    assert len(stored) == body["accepted"]


@pytest.mark.parametrize("path", ["/api/v1/traces", "/api/v1/scores"])
def test_json_nested_10000_deep_is_a_400_naming_the_body(api_client, path):
    body = b'{"traces": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    response = api_client.generic("POST", path, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["field"] == "body"
    assert "nested" in response.json()["error"]


def test_rest_ingest_has_the_otlp_span_limit(api_client, project, settings):
    settings.INGEST_MAX_SPANS_PER_REQUEST = 3
    span = {"kind": "tool", "started_at": "2026-11-27T10:00:00Z"}
    spans = [{**span, "span_id": f"{i + 1:016x}"} for i in range(4)]
    response = api_client.post("/api/v1/traces", {"traces": [a_trace(0, spans=spans)]}, format="json")
    assert response.status_code == 413
    assert response.json()["field"] == "traces"
    assert not Trace.objects.filter(project=project).exists()
    assert (
        api_client.post("/api/v1/traces", {"traces": [a_trace(0, spans=spans[:3])]}, format="json").status_code == 200
    )


def test_rest_ingest_truncates_long_values_like_otlp(api_client, project, settings):
    settings.INGEST_MAX_VALUE_CHARS = 10
    item = a_trace(0, input="q" * 50, metadata={"note": "m" * 50, "n": 1}, error="e" * 50)
    assert api_client.post("/api/v1/traces", {"traces": [item]}, format="json").status_code == 200
    root = Span.objects.get(project=project)
    assert root.input_text == "q" * 10
    assert root.input_messages[0]["parts"][0]["content"] == "q" * 10
    assert root.attributes == {"note": "m" * 10, "n": 1}
    assert root.error_message == "e" * 10
    assert {"input_text", "input_messages", "note", "error_message"} <= set(root.truncated)


def _chain(project, depth: int) -> str:
    """Store one trace whose spans form a single parent→child chain `depth` long; return its id."""
    from apps.traces.normalize import NormalizedSpan
    from apps.traces.services import spans_ingest

    t0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    trace_id = "ab" * 16
    spans = [
        NormalizedSpan(
            trace_id=trace_id,
            span_id=f"{i + 1:016x}",
            parent_span_id=f"{i:016x}" if i else "",
            is_root=i == 0,
            name=f"step {i}",
            kind="chain",
            started_at=t0 + timedelta(microseconds=i),
            ended_at=t0 + timedelta(seconds=1),
        )
        for i in range(depth)
    ]
    spans_ingest(project=project, spans=spans)
    return trace_id


def test_a_5000_deep_span_chain_is_served_by_the_api(api_client, project):
    trace_id = _chain(project, 5000)
    response = api_client.get(f"/api/v1/traces/{trace_id}")
    assert response.status_code == 200
    spans = response.json()["spans"]
    assert [s["depth"] for s in spans] == list(range(5000))  # parent before child, all the way down
    assert spans[-1]["parent_span_id"] == spans[-2]["span_id"]
    assert spans[0]["child_span_ids"] == [spans[1]["span_id"]] and spans[-1]["child_span_ids"] == []


def test_a_5000_deep_span_chain_renders_on_the_trace_page(client, alice, project):
    trace_id = _chain(project, 5000)
    client.force_login(alice)
    response = client.get(f"/p/{project.slug}/traces/{trace_id}/")
    assert response.status_code == 200
    assert response.content.count(b'data-testid="wf-row"') == 5000
    assert b"--depth:4999" in response.content


def test_spans_caught_in_a_parent_cycle_still_appear(api_client, project):
    from apps.traces.normalize import NormalizedSpan
    from apps.traces.services import spans_ingest

    t0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    links = {"0000000000000001": "", "00000000000000a1": "00000000000000b2", "00000000000000b2": "00000000000000a1"}
    spans_ingest(
        project=project,
        spans=[
            NormalizedSpan(trace_id="cd" * 16, span_id=sid, parent_span_id=parent, started_at=t0, ended_at=t0)
            for sid, parent in links.items()
        ],
    )
    spans = api_client.get(f"/api/v1/traces/{'cd' * 16}").json()["spans"]
    assert sorted(s["span_id"] for s in spans) == sorted(links)  # none vanishes; the cycle is broken once
    assert sorted(s["depth"] for s in spans) == [0, 0, 1]
