"""Review API: rules need admin keys to change, items list by status, bad input names the field."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.projects.services import api_key_create, project_create
from apps.review.models import ReviewItem, RoutingRule
from apps.review.services import RuleSpec, review_item_claim, review_route
from tests.review.factories import only_rules, reviewer, traces

pytestmark = pytest.mark.django_db
RULES = "/api/v1/review/rules"
ITEMS = "/api/v1/review/items"


def test_list_rules_shows_the_defaults(api_client):
    body = api_client.get(RULES).json()
    assert body["next_cursor"] is None
    kinds = {r["kind"]: r for r in body["results"]}
    assert kinds["random_sample"]["sample_percent"] == 2.0
    assert kinds["random_sample"]["description"] == "random 2% sample"


def test_a_write_key_cannot_change_rules_but_an_admin_key_can(api_client, admin_api_client, project):
    payload = {"kind": "score_below", "score_name": "helpfulness", "threshold": 3, "priority": 80}
    response = api_client.post(RULES, payload, format="json")
    assert response.status_code == 403 and response.json()["error"].startswith("Changing configuration")
    response = admin_api_client.post(RULES, payload, format="json")
    assert response.status_code == 201, response.json()
    rule = response.json()
    assert (rule["score_name"], rule["threshold"], rule["reviews_required"]) == ("helpfulness", 3.0, 1)

    response = admin_api_client.patch(f"{RULES}/{rule['id']}", {"is_enabled": False, "priority": 5}, format="json")
    assert response.status_code == 200
    assert (response.json()["is_enabled"], response.json()["priority"], response.json()["threshold"]) == (False, 5, 3.0)
    assert api_client.patch(f"{RULES}/{rule['id']}", {"priority": 1}, format="json").status_code == 403


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "kind"),
        ({"kind": "sometimes"}, "kind"),
        ({"kind": "score_below", "threshold": 0.5}, "score_name"),
        ({"kind": "score_below", "score_name": "g"}, "threshold"),
        ({"kind": "score_below", "score_name": "g", "threshold": "low"}, "threshold"),
        ({"kind": "judge_confidence_below", "threshold": 7}, "threshold"),
        ({"kind": "random_sample"}, "sample_percent"),
        ({"kind": "random_sample", "sample_percent": 150}, "sample_percent"),
        ({"kind": "check_failed", "reviews_required": 0}, "reviews_required"),
        ({"kind": "check_failed", "priority": "high"}, "priority"),
        ({"kind": "check_failed", "is_enabled": "perhaps"}, "is_enabled"),
        ({"kind": "check_failed", "score_name": "x" * 101}, "score_name"),
    ],
)
def test_bad_rules_answer_400_naming_the_field(admin_api_client, payload, field):
    response = admin_api_client.post(RULES, payload, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_patch_validation_and_unknown_rules(admin_api_client, project, alice):
    rule = RoutingRule.objects.filter(project=project, kind="random_sample").get()
    response = admin_api_client.patch(f"{RULES}/{rule.id}", {"sample_percent": None}, format="json")
    assert (response.status_code, response.json()["field"]) == (400, "sample_percent")
    response = admin_api_client.patch(f"{RULES}/{rule.id}", ["not", "an", "object"], format="json")
    assert response.status_code == 400
    other = project_create(name="Other", owner=alice)
    foreign = RoutingRule.objects.filter(project=other).first()
    response = admin_api_client.patch(f"{RULES}/{foreign.id}", {"priority": 1}, format="json")
    assert (response.status_code, response.json()["field"]) == (404, "rule_id")
    assert admin_api_client.get(f"{RULES}/999999").status_code == 404


def test_feedback_keys_read_nothing(project):
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(project=project, name='f', scope='feedback').plaintext}"
    )
    assert client.get(ITEMS).status_code == 403
    assert client.get(RULES).status_code == 403


def test_items_list_by_status_with_reasons(api_client, project):
    only_rules(project, RuleSpec(kind="random_sample", sample_percent=100.0, priority=7))
    ts = traces(project, 3)
    review_route(project_id=project.id, trace_pks=[t.pk for t in ts])
    ann = reviewer(project, "ann")
    claimed = review_item_claim(project=project, user=ann)
    body = api_client.get(ITEMS).json()
    assert len(body["results"]) == 3 and body["next_cursor"] is None
    row = body["results"][0]
    assert set(row) >= {"trace_id", "reasons", "priority", "status"}
    assert row["reasons"][0]["text"] == "random 100% sample" and row["priority"] == 7
    assert [r["trace_id"] for r in api_client.get(ITEMS, {"status": "claimed"}).json()["results"]] == [claimed.trace_id]
    assert len(api_client.get(ITEMS, {"status": "pending"}).json()["results"]) == 2
    assert api_client.get(ITEMS, {"status": "done"}).json()["results"] == []
    # An expired claim reads pending again.
    ReviewItem.objects.filter(id=claimed.id).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert len(api_client.get(ITEMS, {"status": "pending"}).json()["results"]) == 3
    assert api_client.get(ITEMS, {"status": "claimed"}).json()["results"] == []


def test_items_pages_with_a_cursor(api_client, project):
    only_rules(project, RuleSpec(kind="random_sample", sample_percent=100.0))
    review_route(project_id=project.id, trace_pks=[t.pk for t in traces(project, 3)])
    first = api_client.get(ITEMS, {"limit": 2}).json()
    assert len(first["results"]) == 2 and first["next_cursor"]
    second = api_client.get(ITEMS, {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(second["results"]) == 1 and second["next_cursor"] is None
    seen = {r["id"] for r in first["results"] + second["results"]}
    assert len(seen) == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "open"}, "status"),
        ({"status": "PENDING"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "9" * 40}, "cursor"),
    ],
)
def test_bad_item_filters_answer_400_naming_the_field(api_client, params, field):
    response = api_client.get(ITEMS, params)
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_items_of_another_project_are_not_listed(api_client, project, alice):
    other = project_create(name="Other", owner=alice)
    only_rules(other, RuleSpec(kind="random_sample", sample_percent=100.0))
    review_route(project_id=other.id, trace_pks=[t.pk for t in traces(other, 2)])
    assert api_client.get(ITEMS).json()["results"] == []
