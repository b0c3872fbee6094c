"""Judges over the API."""

from __future__ import annotations

import pytest

from apps.judges.models import Judge

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("judge_hosts_allowed")]


@pytest.fixture
def api_client(admin_api_client):
    """Pinning judges is configuration: it needs an admin-scoped key (which also reads)."""
    return admin_api_client


def test_judges_store_keys_encrypted_and_never_return_them(api_client, project):
    response = api_client.post(
        "/api/v1/judges",
        {
            "name": "grader",
            "base_url": "http://127.0.0.1:9/v1",
            "model": "gpt-4o-2024-08-06",
            "api_key": "sk-secret-123",
        },
        format="json",
    )
    assert response.status_code == 201
    assert "sk-secret-123" not in response.content.decode()
    assert response.json()["has_stored_key"] is True
    stored = Judge.objects.get(project=project, name="grader")
    assert "sk-secret-123" not in stored.api_key_encrypted
    missing_model = api_client.post(
        "/api/v1/judges", {"name": "g2", "base_url": "http://127.0.0.1:9/v1", "model": " "}, format="json"
    )
    assert missing_model.status_code == 400
    assert missing_model.json()["field"] == "model"


def test_judges_are_listed_in_the_list_envelope(api_client, project):
    api_client.post(
        "/api/v1/judges", {"name": "grader", "base_url": "http://127.0.0.1:9/v1", "model": "m-1"}, format="json"
    )
    body = api_client.get("/api/v1/judges").json()
    assert [j["name"] for j in body["results"]] == ["grader"]
    assert body["next_cursor"] is None
