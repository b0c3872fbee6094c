import pytest
from rest_framework.test import APIClient

from apps.projects.services import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db


def test_bearer_key_resolves_the_project(api_client, project):
    response = api_client.get("/api/v1/project")
    assert response.status_code == 200
    assert response.json()["project"] == project.slug


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Missing Authorization header"),
        ("Bearer ", "must be 'Bearer <API key>'"),
        ("Basic dXNlcjpwdw==", "must be 'Bearer <API key>'"),
        ("Bearer sl_w_deadbeefnotarealkeyatall000000", "Invalid or revoked API key"),
    ],
)
def test_missing_or_wrong_key_gets_401_with_a_json_error(project, header, message):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/project")
    assert response.status_code == 401
    assert message in response.json()["error"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_gets_401(project):
    issued = api_key_create(project=project, name="soon revoked")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    assert client.get("/api/v1/project").status_code == 200
    api_key_revoke(project=project, api_key_id=issued.api_key.id)
    response = client.get("/api/v1/project")
    assert response.status_code == 401
    assert response.json()["error"] == "Invalid or revoked API key."


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/project" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()  # air-gapped: swagger assets come from our static files
