"""Every API failure answers the documented error body: `{"error", "field", "detail"}`."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from apps.core.api import exception_handler
from apps.projects.services import api_key_create

pytestmark = pytest.mark.django_db
ERROR_KEYS = {"error", "field", "detail"}


def _assert_error_body(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status
    body = response.json()
    assert ERROR_KEYS <= set(body)
    assert isinstance(body["error"], str) and body["error"]
    assert body["field"] == field
    return body


@pytest.mark.parametrize("header", [None, "Basic abc", "Bearer sl_w_not-a-real-key"])
def test_authentication_failures_are_401_error_bodies(header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/traces")
    body = _assert_error_body(response, 401)
    assert body["detail"] in {"not_authenticated", "authentication_failed"}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_read_key_writing_is_a_403_error_body(project):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(project=project, name='r', scope='read').plaintext}")
    body = _assert_error_body(client.post("/api/v1/scores", {"scores": []}, format="json"), 403)
    assert body["detail"] == "permission_denied"


def test_an_unknown_method_is_a_405_error_body(api_client):
    _assert_error_body(api_client.delete("/api/v1/traces"), 405)


def test_a_body_that_is_not_json_is_a_415_error_body(api_client):
    response = api_client.generic("POST", "/api/v1/scores", b"scores=1", content_type="text/plain")
    _assert_error_body(response, 415)


def test_malformed_json_is_a_400_error_body(api_client):
    response = api_client.generic("POST", "/api/v1/scores", b'{"scores": [', content_type="application/json")
    assert "JSON" in _assert_error_body(response, 400, field="body")["error"]


def test_a_missing_object_is_a_404_error_body_naming_the_path_parameter(api_client):
    _assert_error_body(api_client.get("/api/v1/evaluators/999999"), 404, field="evaluator_id")


def test_a_change_that_is_not_an_object_is_400_not_500(admin_api_client):
    evaluator = admin_api_client.get("/api/v1/evaluators").json()["results"][0]
    response = admin_api_client.put(f"/api/v1/evaluators/{evaluator['id']}", [1, 2], format="json")
    _assert_error_body(response, 400, field=None)


def test_a_database_outage_is_a_503_error_body_with_retry_after():
    response = exception_handler(OperationalError("connection refused"), {})
    assert response.status_code == 503
    assert set(response.data) == ERROR_KEYS
    assert response["Retry-After"] == "2"


def test_a_body_over_the_limit_is_a_413_error_body(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = {"scores": [{"trace_id": "a" * 32, "name": "n", "value": 1, "explanation": "x" * 2000}]}
    body = _assert_error_body(api_client.post("/api/v1/scores", big, format="json"), 413)
    assert body["detail"] == "too_large"
    small = api_client.post("/api/v1/scores", {"scores": []}, format="json")
    assert small.status_code == 200
