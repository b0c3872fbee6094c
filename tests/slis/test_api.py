"""GET/POST/PATCH/DELETE /api/v1/slis and /api/v1/alert-rules, /api/v1/alerts and /api/v1/channels."""

from __future__ import annotations

import pytest

from apps.projects.services import api_key_create, project_create
from apps.slis.models import AlertFlip, AlertRule, Channel, Sli

pytestmark = pytest.mark.django_db


def sli(admin_api_client, **fields):
    body = {"name": "Refusals", "metric": "refusal", "aggregation": "fail_rate", **fields}
    response = admin_api_client.post("/api/v1/slis", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_sli_crud_with_the_issue_field_names(admin_api_client, api_client):
    created = sli(admin_api_client, filters={"route": "/chat", "environment": "prod"})
    assert {k: created[k] for k in ("name", "metric", "aggregation", "filters")} == {
        "name": "Refusals",
        "metric": "refusal",
        "aggregation": "fail_rate",
        "filters": {"route": "/chat", "environment": "prod"},
    }
    assert api_client.get("/api/v1/slis").json()["results"][0]["id"] == created["id"]
    assert api_client.get(f"/api/v1/slis/{created['id']}").json()["name"] == "Refusals"
    changed = admin_api_client.patch(f"/api/v1/slis/{created['id']}", {"name": "Refusal rate"}, format="json")
    assert changed.status_code == 200 and changed.json()["name"] == "Refusal rate"
    assert changed.json()["metric"] == "refusal"
    assert admin_api_client.delete(f"/api/v1/slis/{created['id']}").status_code == 204
    assert api_client.get(f"/api/v1/slis/{created['id']}").status_code == 404


def test_templates_one_call_each(admin_api_client):
    expected = {
        "grounding_rate": ("grounding", "pass_rate"),
        "helpfulness_rate": ("helpfulness", "pass_rate"),
        "refusal_rate": ("refusal", "fail_rate"),
        "thumbs_down_rate": ("thumbs_down", "mean"),
        "p95_latency": ("latency_ms", "p95"),
        "error_rate": ("errors", "mean"),
    }
    for template, (metric, aggregation) in expected.items():
        response = admin_api_client.post("/api/v1/slis", {"template": template}, format="json")
        assert response.status_code == 201, response.json()
        assert (response.json()["metric"], response.json()["aggregation"]) == (metric, aggregation)
    assert Sli.objects.count() == 6


def test_writes_need_an_admin_key_reads_a_read_key(project, api_client):
    read = api_key_create(project=project, name="r", scope="read").plaintext
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {read}")
    assert api_client.get("/api/v1/slis").status_code == 200
    assert api_client.get("/api/v1/alert-rules").status_code == 200
    assert api_client.get("/api/v1/alerts").status_code == 200
    assert api_client.get("/api/v1/channels").status_code == 200
    body = {"name": "x", "metric": "refusal", "aggregation": "fail_rate"}
    assert api_client.post("/api/v1/slis", body, format="json").status_code == 403
    write = api_key_create(project=project, name="w", scope="write").plaintext
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {write}")
    response = api_client.post("/api/v1/slis", body, format="json")
    assert response.status_code == 403 and response.json()["error"].startswith("Changing configuration")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metric": "refusal", "aggregation": "fail_rate"}, "name"),
        ({"name": "a", "metric": "bad name!", "aggregation": "mean"}, "metric"),
        ({"name": "a", "metric": "refusal", "aggregation": "p42"}, "aggregation"),
        ({"name": "a", "metric": "refusal", "aggregation": "p95"}, "aggregation"),  # a check has no quantiles
        ({"name": "a", "metric": "latency_ms", "aggregation": "pass_rate"}, "aggregation"),
        ({"name": "a", "metric": "refusal", "aggregation": "mean", "filters": {"tenant": "x"}}, "filters"),
        ({"name": "a", "metric": "refusal", "aggregation": "mean", "filters": "route"}, "filters"),
        ({"template": "nope"}, "template"),
    ],
)
def test_bad_sli_input_is_a_400_naming_the_field(admin_api_client, body, field):
    response = admin_api_client.post("/api/v1/slis", body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field, response.json()


def test_rule_crud_with_for_group_by_and_channels(admin_api_client, api_client, settings):
    settings.ALERT_ALLOWED_HOSTS = ["127.0.0.1"]
    s = sli(admin_api_client)
    channel = admin_api_client.post(
        "/api/v1/channels", {"name": "ops", "kind": "webhook", "target": "http://127.0.0.1:9/hook"}, format="json"
    )
    assert channel.status_code == 201 and len(channel.json()["secret"]) >= 32
    body = {
        "sli": s["id"],
        "comparator": ">",
        "threshold": 0.05,
        "window": "5m",
        "min_samples": 20,
        "for": "2m",
        "group_by": ["route", "prompt_version"],
        "channels": [channel.json()["id"]],
    }
    created = admin_api_client.post("/api/v1/alert-rules", body, format="json")
    assert created.status_code == 201, created.json()
    rule = created.json()
    assert rule["for"] == "2m" and rule["group_by"] == ["prompt_version", "route"]
    assert rule["channels"] == [channel.json()["id"]] and rule["version"] == 1
    assert api_client.get("/api/v1/alert-rules").json()["results"][0]["id"] == rule["id"]
    changed = admin_api_client.patch(
        f"/api/v1/alert-rules/{rule['id']}", {"for": "5m", "threshold": 0.1}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["for"], changed.json()["threshold"], changed.json()["version"]) == ("5m", 0.1, 2)
    assert admin_api_client.delete(f"/api/v1/alert-rules/{rule['id']}").status_code == 204
    assert not AlertRule.objects.exists() and not AlertFlip.objects.exists()
    assert admin_api_client.get(f"/api/v1/alert-rules/{rule['id']}").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"comparator": "=="}, "comparator"),
        ({"threshold": "high"}, "threshold"),
        ({"window": "5 minutes"}, "window"),
        ({"window": "30s"}, "window"),  # shorter than a rollup minute
        ({"for": "forever"}, "for"),
        ({"for": "2d"}, "for"),
        ({"min_samples": 0}, "min_samples"),
        ({"group_by": ["tenant"]}, "group_by"),
        ({"group_by": ["route", "route"]}, "group_by"),
        ({"channels": [999999]}, "channels"),
        ({"sli": 999999}, "sli"),
    ],
)
def test_bad_rule_input_is_a_400_naming_the_field(admin_api_client, change, field):
    s = sli(admin_api_client)
    body = {"sli": s["id"], "comparator": ">", "threshold": 0.05, **change}
    response = admin_api_client.post("/api/v1/alert-rules", body, format="json")
    assert response.status_code == 400
    assert response.json()["field"].split("[")[0].split(".")[0] == field, response.json()


def test_another_projects_sli_and_channel_are_refused(admin_api_client, alice):
    other = project_create(name="Other", owner=alice)
    foreign_sli = Sli.objects.create(project=other, name="theirs", metric="refusal", aggregation="fail_rate")
    foreign_channel = Channel.objects.create(project=other, name="theirs", kind="email", target="a@example.com")
    body = {"sli": foreign_sli.id, "comparator": ">", "threshold": 0.05}
    assert admin_api_client.post("/api/v1/alert-rules", body, format="json").json()["field"] == "sli"
    s = sli(admin_api_client)
    body = {"sli": s["id"], "comparator": ">", "threshold": 0.05, "channels": [foreign_channel.id]}
    assert admin_api_client.post("/api/v1/alert-rules", body, format="json").json()["field"] == "channels"
    assert admin_api_client.get(f"/api/v1/slis/{foreign_sli.id}").status_code == 404


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1/hook",
        "http://localhost/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://metadata.google.internal/",
        "ftp://example.com/hook",
        "file:///etc/passwd",
    ],
)
def test_channel_targets_are_checked_against_ssrf(admin_api_client, target):
    body = {"name": "bad", "kind": "webhook", "target": target}
    response = admin_api_client.post("/api/v1/channels", body, format="json")
    assert response.status_code == 400 and response.json()["field"] == "target", response.json()


def test_a_dns_name_resolving_to_loopback_is_refused(admin_api_client, monkeypatch):
    import socket

    def resolve(host, port, *args, **kwargs):
        assert host == "hooks.attacker.example"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    body = {"name": "dns", "kind": "slack", "target": "https://hooks.attacker.example/services/x"}
    response = admin_api_client.post("/api/v1/channels", body, format="json")
    assert response.status_code == 400 and "loopback" in response.json()["error"]


def test_alerts_list_filters_by_state(api_client):
    assert api_client.get("/api/v1/alerts?state=firing").json() == {"results": [], "next_cursor": None}
    response = api_client.get("/api/v1/alerts?state=burning")
    assert response.status_code == 400 and response.json()["field"] == "state"
