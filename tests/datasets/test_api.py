"""Datasets API: build from reviewed failures, add by hand, versioned JSONL export (a round trip), bad input."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from apps.datasets.models import DatasetItem
from apps.projects.services import api_key_create
from apps.review.services import LabelInput, label_record
from tests.review.factories import reviewer
from tests.traces.factories import BASE_TIME, rag_trace, simple_trace

pytestmark = pytest.mark.django_db


def export(client: APIClient, dataset_id: int, version: int | None = None) -> tuple[list[dict], object]:
    url = f"/api/v1/datasets/{dataset_id}/export" + (f"?version={version}" if version else "")
    response = client.get(url)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/x-ndjson")
    body = b"".join(response.streaming_content).decode()
    return [json.loads(line) for line in body.splitlines()], response


@pytest.fixture
def labeled(project):
    """Three reviewed traces: a hallucination on v7 (two reviewers agree), a pass, and a refusal on v8."""
    dana, erin = reviewer(project, "dana"), reviewer(project, "erin")
    bad = rag_trace(project, prompt_version="v7")
    good = rag_trace(project, prompt_version="v7", at=BASE_TIME + timedelta(minutes=1))
    refused = simple_trace(
        project, at=BASE_TIME + timedelta(minutes=2), prompt_version="v8", route="/chat", output_text="I can't help."
    )
    for user in (dana, erin):
        label_record(
            project=project,
            user=user,
            trace_pk=bad.pk,
            trace_id=bad.trace_id,
            data=LabelInput("fail", ["hallucination"], corrected_answer="Open Settings → Security and click Reset."),
        )
    label_record(project=project, user=dana, trace_pk=good.pk, trace_id=good.trace_id, data=LabelInput("pass"))
    label_record(
        project=project, user=erin, trace_pk=refused.pk, trace_id=refused.trace_id, data=LabelInput("fail", ["refusal"])
    )
    return {"bad": bad, "good": good, "refused": refused}


def test_build_from_failures_snapshots_the_trace_its_labels_and_provenance(api_client, labeled):
    response = api_client.post(
        "/api/v1/datasets",
        {"name": "v7 hallucinations", "filters": {"verdict": "fail", "category": "hallucination"}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["version"], body["item_count"], body["added"]) == (1, 1, 1)
    assert body["built_from"] == {"verdict": "fail", "category": "hallucination"}
    lines, raw = export(api_client, body["id"])
    assert raw["X-Sightline-Dataset-Version"] == "1"
    assert 'filename="v7-hallucinations-v1.jsonl"' in raw["Content-Disposition"]
    [line] = lines
    bad = labeled["bad"]
    assert line["trace_id"] == bad.trace_id
    assert line["dataset_version"] == 1
    assert line["input"] and line["output"] == bad.output_text
    assert [d["id"] for d in line["context"]] == ["kb-17", "kb-3"]
    assert line["context"][0]["content"] == "To reset a password, open Settings → Security."
    assert (line["verdict"], line["categories"]) == ("fail", ["hallucination"])
    assert line["expected"] == "Open Settings → Security and click Reset."
    assert sorted(line["reviewers"]) == ["dana", "erin"] and len(line["label_ids"]) == 2
    assert (line["prompt_version"], line["route"]) == ("v7", "support.answer")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {"bad", "refused"}),  # verdict defaults to fail
        ({"verdict": "any"}, {"bad", "good", "refused"}),
        ({"verdict": "pass"}, {"good"}),
        ({"prompt_version": "v8"}, {"refused"}),
        ({"route": "/chat", "category": "refusal"}, {"refused"}),
        ({"category": "formatting"}, set()),
    ],
)
def test_build_filters_select_by_verdict_category_and_dimensions(api_client, labeled, filters, expected):
    response = api_client.post("/api/v1/datasets", {"name": "d", "filters": filters}, format="json")
    assert response.status_code == 201, response.json()
    lines, _ = export(api_client, response.json()["id"]) if response.json()["version"] else ([], None)
    assert {line["trace_id"] for line in lines} == {labeled[k].trace_id for k in expected}


def test_build_filters_by_routing_reason_and_time(api_client, project, labeled):
    from apps.review.models import ReviewItem

    refused = labeled["refused"]
    ReviewItem.objects.create(
        project=project,
        trace_pk=refused.pk,
        trace_id=refused.trace_id,
        trace_started_at=refused.started_at,
        reasons=[{"rule_id": 1, "kind": "negative_feedback", "text": "thumbs down"}],
    )
    from apps.review.models import Label

    Label.objects.filter(trace_pk=refused.pk).update(item=ReviewItem.objects.get(trace_pk=refused.pk))
    response = api_client.post(
        "/api/v1/datasets", {"name": "thumbs", "filters": {"reason": "negative_feedback"}}, format="json"
    )
    lines, _ = export(api_client, response.json()["id"])
    assert [line["trace_id"] for line in lines] == [refused.trace_id]
    later = refused.started_at.isoformat()
    response = api_client.post(
        "/api/v1/datasets", {"name": "none", "filters": {"until": later, "since": "2001-01-01T00:00Z"}}, format="json"
    )
    assert response.json()["added"] == 1  # "bad" and "refused" both fail; "refused" starts at `until` (excluded)


def test_versions_round_trip_and_old_exports_do_not_change(api_client, project, labeled):
    created = api_client.post("/api/v1/datasets", {"name": "by hand"}, format="json").json()
    assert (created["version"], created["item_count"]) == (0, 0)
    items_url = f"/api/v1/datasets/{created['id']}/items"
    first = api_client.post(items_url, {"items": [{"trace_id": labeled["bad"].trace_id}]}, format="json")
    assert first.json() == {"dataset": created["id"], "version": 1, "added": 1, "skipped": 0}
    by_hand = {
        "input": "Can I pay by invoice?",
        "output": "Yes.",
        "context": ["Invoices are for annual plans only.", {"id": "kb-9", "content": "Monthly plans pay by card."}],
        "expected": "Only on annual plans.",
        "verdict": "fail",
        "categories": ["incomplete"],
        "metadata": {"source": "support ticket 88"},
    }
    second = api_client.post(
        items_url, {"items": [by_hand, {"trace_id": labeled["bad"].trace_id}]}, format="json"
    ).json()
    assert (second["version"], second["added"], second["skipped"]) == (2, 1, 1)  # the trace is there already
    again = api_client.post(items_url, {"items": [{"trace_id": labeled["bad"].trace_id}]}, format="json").json()
    assert (again["version"], again["added"]) == (2, 0)  # nothing new: no new version

    v1, _ = export(api_client, created["id"], version=1)
    v2, raw = export(api_client, created["id"])
    assert raw["X-Sightline-Dataset-Version"] == "2"
    assert [line["trace_id"] for line in v1] == [labeled["bad"].trace_id]
    assert {line["dataset_version"] for line in v1} == {1} and {line["dataset_version"] for line in v2} == {2}
    hand = v2[1]
    assert hand["context"] == [
        {"id": "0", "content": "Invoices are for annual plans only."},
        {"id": "kb-9", "content": "Monthly plans pay by card."},
    ]
    assert (hand["expected"], hand["categories"], hand["metadata"]) == (
        "Only on annual plans.",
        ["incomplete"],
        {"source": "support ticket 88"},
    )

    # The round trip: the export, posted back as items, exports the same snapshots.
    fields = ("input", "output", "context", "expected", "verdict", "categories", "metadata")
    copy = api_client.post("/api/v1/datasets", {"name": "copy"}, format="json").json()
    posted = api_client.post(
        f"/api/v1/datasets/{copy['id']}/items",
        {"items": [{k: line[k] for k in fields} for line in v2]},
        format="json",
    )
    assert posted.status_code == 200, posted.json()
    copied, _ = export(api_client, copy["id"])
    assert [{k: line[k] for k in fields} for line in copied] == [{k: line[k] for k in fields} for line in v2]


def test_export_is_fetchable_with_a_read_key_and_hidden_from_other_projects(client, api_client, project, labeled):
    created = api_client.post("/api/v1/datasets", {"name": "d", "filters": {}}, format="json").json()
    read_key = api_key_create(project=project, name="suite", scope="read").plaintext
    response = client.get(f"/api/v1/datasets/{created['id']}/export", HTTP_AUTHORIZATION=f"Bearer {read_key}")
    assert response.status_code == 200
    assert len(b"".join(response.streaming_content).splitlines()) == 2
    refused = client.post(
        "/api/v1/datasets", {"name": "x"}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {read_key}"
    )
    assert refused.status_code == 403

    from apps.projects.services import project_create
    from tests.projects.factories import UserFactory

    other = project_create(name="Other", owner=UserFactory(username="zed"))
    other_key = api_key_create(project=other, name="k").plaintext
    response = client.get(f"/api/v1/datasets/{created['id']}/export", HTTP_AUTHORIZATION=f"Bearer {other_key}")
    assert (response.status_code, response.json()["field"]) == (404, "dataset_id")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/datasets", {}, "name"),
        ("/api/v1/datasets", {"name": "d", "filters": {"verdict": "meh"}}, "filters.verdict"),
        ("/api/v1/datasets", {"name": "d", "filters": {"colour": "red"}}, "filters.colour"),
        ("/api/v1/datasets", {"name": "d", "filters": {"since": "yesterday"}}, "filters.since"),
        (
            "/api/v1/datasets",
            {"name": "d", "filters": {"since": "2026-02-01T00:00Z", "until": "2026-01-01T00:00Z"}},
            "filters.until",
        ),
        ("ITEMS", {"items": []}, "items"),
        ("ITEMS", {"items": [{"trace_id": "nope"}]}, "items[0].trace_id"),
        ("ITEMS", {"items": [{"trace_id": "0" * 32}]}, "trace_id"),
        ("ITEMS", {"items": [{"expected": "x"}]}, "items[0].trace_id"),
        ("ITEMS", {"items": [{"input": "q", "output": "a", "context": [3]}]}, "items[0].context"),
        ("ITEMS", {"items": [{"input": "q", "output": "a", "verdict": "maybe"}]}, "items[0].verdict"),
    ],
)
def test_bad_dataset_input_is_a_400_naming_the_field(api_client, path, body, field):
    if path == "ITEMS":
        dataset = api_client.post("/api/v1/datasets", {"name": "target"}, format="json").json()
        path = f"/api/v1/datasets/{dataset['id']}/items"
    response = api_client.post(path, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field, response.json()
    assert DatasetItem.objects.count() == 0


def test_a_duplicate_name_and_a_bad_export_version_are_400s(api_client):
    created = api_client.post("/api/v1/datasets", {"name": "d"}, format="json").json()
    again = api_client.post("/api/v1/datasets", {"name": "d"}, format="json")
    assert (again.status_code, again.json()["field"]) == (400, "name")
    for version in ("1", "abc", "0"):
        response = api_client.get(f"/api/v1/datasets/{created['id']}/export?version={version}")
        assert (response.status_code, response.json()["field"]) == (400, "version")
    listed = api_client.get("/api/v1/datasets").json()
    assert [d["name"] for d in listed["results"]] == ["d"] and listed["next_cursor"] is None
    assert (
        api_client.get(f"/api/v1/datasets/{created['id']}")
        .json()["export_url"]
        .endswith(f"/api/v1/datasets/{created['id']}/export")
    )
