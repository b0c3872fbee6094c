"""POST /api/v1/feedback: validation of every field, batches, scopes, CORS; and feedback on the trace detail."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from apps.feedback.models import Feedback
from apps.projects.services import api_key_create
from apps.scores.models import Score
from apps.traces.models import Trace
from tests.traces.factories import new_trace_id, simple_trace

pytestmark = pytest.mark.django_db

URL = "/api/v1/feedback"


def client_for(project, scope: str) -> APIClient:
    client = APIClient()
    key = api_key_create(project=project, name=scope, scope=scope).plaintext
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def feedback_client(project) -> APIClient:
    return client_for(project, "feedback")


def test_one_thumbs_down_on_a_known_trace_is_stored_linked_and_scored(feedback_client, project):
    trace = simple_trace(project, route="support.answer", prompt_version="v7")
    response = feedback_client.post(
        URL, {"trace_id": trace.trace_id.upper(), "kind": "thumbs_down", "comment": "wrong plan"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 1, "rejected": []}
    row = Feedback.objects.get(project=project)
    assert (row.trace_id, row.trace_pk, row.kind, row.source) == (trace.trace_id, trace.pk, "thumbs_down", "explicit")
    trace.refresh_from_db()
    assert trace.has_feedback is True
    score = Score.objects.get(trace=trace, name="thumbs_down")
    assert (score.value, score.passed, score.source, score.explanation) == (1.0, False, "feedback", "wrong plan")
    assert (score.route, score.prompt_version) == ("support.answer", "v7")  # the trace's dimensions


def test_every_kind_becomes_its_score(api_client, project):
    trace = simple_trace(project)
    items = [
        {"trace_id": trace.trace_id, "kind": "thumbs_down", "timestamp": "2026-01-01T10:00:00Z"},
        {"trace_id": trace.trace_id, "kind": "thumbs_up", "timestamp": "2026-01-01T10:00:05Z"},  # the latest wins
        {"trace_id": trace.trace_id, "kind": "rating", "value": 2},
        {"trace_id": trace.trace_id, "kind": "regenerate"},
        {"trace_id": trace.trace_id, "kind": "rephrase"},
        {"trace_id": trace.trace_id, "kind": "abandon"},
        {"trace_id": trace.trace_id, "kind": "edit", "text": "Open Settings → Security."},
        {"trace_id": trace.trace_id, "kind": "comment", "comment": "too long", "user_id": "u-1"},
    ]
    response = api_client.post(URL, {"feedback": items}, format="json")
    assert response.json() == {"accepted": 8, "rejected": []}
    scores = {s.name: (s.value, s.passed) for s in Score.objects.filter(trace=trace, source="feedback")}
    assert scores == {
        "thumbs_down": (0.0, True),
        "rating": (2.0, None),
        "regenerated": (1.0, False),
        "rephrased": (1.0, False),
        "abandoned": (1.0, False),
    }
    stored = Feedback.objects.get(kind="edit")
    assert stored.text == "Open Settings → Security."
    assert Feedback.objects.get(kind="comment").user_id == "u-1"
    assert str(Feedback.objects.get(kind="thumbs_down").occurred_at) == "2026-01-01 10:00:00+00:00"


BAD_ITEMS = [
    ({"kind": "thumbs_up"}, "trace_id"),
    ({"trace_id": "xyz", "kind": "thumbs_up"}, "trace_id"),
    ({"trace_id": 12, "kind": "thumbs_up"}, "trace_id"),
    ({"trace_id": "a" * 32}, "kind"),
    ({"trace_id": "a" * 32, "kind": "love"}, "kind"),
    ({"trace_id": "a" * 32, "kind": ["thumbs_up"]}, "kind"),
    ({"trace_id": "a" * 32, "kind": "rating"}, "value"),
    ({"trace_id": "a" * 32, "kind": "rating", "value": 0}, "value"),
    ({"trace_id": "a" * 32, "kind": "rating", "value": 6}, "value"),
    ({"trace_id": "a" * 32, "kind": "rating", "value": 3.5}, "value"),
    ({"trace_id": "a" * 32, "kind": "rating", "value": "many"}, "value"),
    ({"trace_id": "a" * 32, "kind": "rating", "value": True}, "value"),
    ({"trace_id": "a" * 32, "kind": "thumbs_up", "value": 5}, "value"),
    ({"trace_id": "a" * 32, "kind": "edit"}, "text"),
    ({"trace_id": "a" * 32, "kind": "thumbs_up", "text": "hm"}, "text"),
    ({"trace_id": "a" * 32, "kind": "edit", "text": "x" * 40_000}, "text"),
    ({"trace_id": "a" * 32, "kind": "comment"}, "comment"),
    ({"trace_id": "a" * 32, "kind": "comment", "comment": "bad\x00byte"}, "comment"),
    ({"trace_id": "a" * 32, "kind": "comment", "comment": "lone \ud800 surrogate"}, "comment"),
    ({"trace_id": "a" * 32, "kind": "comment", "comment": {"nested": 1}}, "comment"),
    ({"trace_id": "a" * 32, "kind": "thumbs_up", "user_id": "u" * 201}, "user_id"),
    ({"trace_id": "a" * 32, "kind": "thumbs_up", "timestamp": "yesterday"}, "timestamp"),
    ({"trace_id": "a" * 32, "kind": "thumbs_up", "timestamp": 1700000000}, "timestamp"),
    ({"trace_id": "a" * 32, "kind": "thumbs_up", "timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp"),
    ({"trace_id": "a" * 32, "kind": "thumbs_up", "timestamp": "9999-12-31T23:59:59Z"}, "timestamp"),
]


@pytest.mark.parametrize(("item", "field"), BAD_ITEMS)
def test_a_bad_item_is_a_400_naming_its_field(feedback_client, item, field):
    # Sent as escaped JSON text: a lone surrogate arrives as the JSON escape "\\ud800", as a browser would send it.
    response = feedback_client.post(URL, json.dumps(item), content_type="application/json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["field"] == field, body
    assert body["error"].startswith(f"{field}:"), body
    assert body["accepted"] == 0
    assert body["rejected"] == [{"index": 0, "field": field, "error": body["error"]}]
    assert not Feedback.objects.exists()


@pytest.mark.parametrize(("item", "field"), BAD_ITEMS)
def test_in_a_batch_a_bad_item_rejects_only_itself(feedback_client, item, field):
    good = {"trace_id": new_trace_id(), "kind": "thumbs_up"}
    response = feedback_client.post(URL, json.dumps({"feedback": [good, item, good]}), content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "accepted": 2,
        "rejected": [{"index": 1, "field": f"feedback[1].{field}", "error": response.json()["rejected"][0]["error"]}],
    }
    assert Feedback.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([{"trace_id": "a" * 32, "kind": "thumbs_up"}], "body"),
        ("thumbs_up", "body"),
        ({"feedback": "thumbs_up"}, "feedback"),
        ({"feedback": None}, "feedback"),
    ],
)
def test_a_bad_envelope_is_a_400_naming_it(feedback_client, body, field):
    response = feedback_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_a_batch_of_junk_items_names_each(feedback_client):
    response = feedback_client.post(URL, {"feedback": ["x", 3, None, {}]}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert [r["field"] for r in body["rejected"]] == [
        "feedback[0]",
        "feedback[1]",
        "feedback[2]",
        "feedback[3].trace_id",
    ]
    assert body["field"] == "feedback[0]"


def test_an_empty_batch_and_a_too_large_one(feedback_client):
    assert feedback_client.post(URL, {"feedback": []}, format="json").json() == {"accepted": 0, "rejected": []}
    item = {"trace_id": "a" * 32, "kind": "thumbs_up"}
    response = feedback_client.post(URL, {"feedback": [item] * 1001}, format="json")
    assert response.status_code == 413
    assert response.json()["field"] == "feedback"


def test_malformed_json_and_wrong_content_type_are_4xx(feedback_client):
    response = feedback_client.post(URL, b'{"trace_id": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["field"] == "body"
    response = feedback_client.post(URL, b"trace_id=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


@pytest.mark.parametrize("scope", ["feedback", "write", "admin"])
def test_feedback_write_and_admin_keys_may_post(project, scope):
    response = client_for(project, scope).post(URL, {"trace_id": "a" * 32, "kind": "thumbs_up"}, format="json")
    assert response.status_code == 200
    assert Feedback.objects.filter(project=project).count() == 1


def test_a_read_key_may_not_post_and_no_key_is_401(project):
    response = client_for(project, "read").post(URL, {"trace_id": "a" * 32, "kind": "thumbs_up"}, format="json")
    assert response.status_code == 403
    assert "read-only" in response.json()["error"]
    response = APIClient().post(URL, {"trace_id": "a" * 32, "kind": "thumbs_up"}, format="json")
    assert response.status_code == 401
    assert not Feedback.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/traces"),
        ("post", "/api/v1/traces"),
        ("get", "/api/v1/traces/" + "a" * 32),
        ("post", "/api/v1/scores"),
        ("get", "/api/v1/evaluators"),
        ("get", "/api/v1/feedback"),
    ],
)
def test_a_feedback_key_reads_and_ingests_nothing_else(feedback_client, method, path):
    response = getattr(feedback_client, method)(path, {}, format="json")
    assert response.status_code in {403, 405}, (path, response.status_code)
    if path != "/api/v1/feedback":
        assert response.status_code == 403


def test_the_preflight_and_the_post_carry_cors_headers(feedback_client):
    preflight = APIClient().options(
        URL,
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert set(preflight["Access-Control-Allow-Headers"].lower().split(", ")) == {"authorization", "content-type"}
    assert "Access-Control-Allow-Credentials" not in preflight
    response = feedback_client.post(
        URL, {"trace_id": "a" * 32, "kind": "thumbs_up"}, format="json", HTTP_ORIGIN="https://app.example.com"
    )
    assert response["Access-Control-Allow-Origin"] == "*"
    # A refusal is readable by the page too.
    refused = APIClient().post(URL, {}, format="json", HTTP_ORIGIN="https://app.example.com")
    assert refused.status_code == 401
    assert refused["Access-Control-Allow-Origin"] == "*"


def test_allowed_origins_can_be_listed(feedback_client, settings):
    settings.FEEDBACK_ALLOWED_ORIGINS = ["https://app.example.com"]
    ok = APIClient().options(URL, HTTP_ORIGIN="https://app.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert ok["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Origin" in ok["Vary"]
    other = APIClient().options(URL, HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in other
    # Other endpoints answer no CORS at all.
    traces = feedback_client.get("/api/v1/traces", HTTP_ORIGIN="https://app.example.com")
    assert "Access-Control-Allow-Origin" not in traces


def test_feedback_before_its_trace_is_kept_unlinked(feedback_client, project):
    tid = new_trace_id()
    response = feedback_client.post(URL, {"trace_id": tid, "kind": "rating", "value": 5}, format="json")
    assert response.json() == {"accepted": 1, "rejected": []}
    row = Feedback.objects.get(project=project)
    assert (row.trace_id, row.trace_pk, row.value) == (tid, None, 5.0)
    assert not Trace.objects.filter(project=project).exists()  # no placeholder trace is made


def test_the_trace_detail_lists_feedback(api_client, feedback_client, project):
    trace = simple_trace(project)
    feedback_client.post(
        URL,
        {
            "trace_id": trace.trace_id,
            "kind": "rating",
            "value": 4,
            "comment": "ok",
            "timestamp": "2026-03-01T12:00:00Z",
        },
        format="json",
    )
    body = api_client.get(f"/api/v1/traces/{trace.trace_id}").json()
    assert body["trace_id"] == trace.trace_id
    assert [s["name"] for s in body["scores"]] == ["rating"]
    assert body["feedback"] == [
        {
            "kind": "rating",
            "source": "explicit",
            "value": 4.0,
            "text": "",
            "comment": "ok",
            "user_id": "",
            "reason": "",
            "time": "2026-03-01T12:00:00Z",
        }
    ]
    assert api_client.get("/api/v1/traces/" + "b" * 32).status_code == 404
