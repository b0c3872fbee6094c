import json

import pytest
from django.contrib.sessions.models import Session

from apps.projects.models import ApiKey, Membership
from apps.projects.services import api_key_create
from tests.projects.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def test_pages_need_a_login(client, project):
    response = client.get(f"/p/{project.slug}/settings/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_login_page_renders(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_alice_sees_settings_and_can_create_a_key_shown_once(client, alice, project):
    client.force_login(alice)
    response = client.post(
        f"/p/{project.slug}/settings/keys/", {"name": "prod", "scope": "write"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(project=project, name="prod")
    body = response.content.decode()
    assert 'id="api-keys"' in body and "<html" not in body  # the fragment only
    secret = body.split('data-testid="new-key-secret">')[1].split("<")[0]
    assert secret.startswith(key.prefix)
    page = client.get(f"/p/{project.slug}/settings/").content.decode()
    assert key.prefix in page and secret not in page


def test_bob_the_viewer_cannot_create_or_revoke_keys(client, bob, project):
    issued = api_key_create(project=project, name="existing")
    client.force_login(bob)
    assert client.get(f"/p/{project.slug}/settings/").status_code == 200
    assert client.post(f"/p/{project.slug}/settings/keys/", {"name": "x", "scope": "write"}).status_code == 403
    assert client.post(f"/p/{project.slug}/settings/keys/{issued.api_key.id}/revoke/").status_code == 403
    assert ApiKey.objects.get(id=issued.api_key.id).revoked_at is None


def test_carol_the_outsider_gets_404(client, carol, project):
    client.force_login(carol)
    assert client.get(f"/p/{project.slug}/settings/").status_code == 404
    assert client.post(f"/p/{project.slug}/settings/keys/", {"name": "x", "scope": "write"}).status_code == 404


def test_alice_revokes_a_key(client, alice, project):
    issued = api_key_create(project=project, name="old")
    client.force_login(alice)
    response = client.post(f"/p/{project.slug}/settings/keys/{issued.api_key.id}/revoke/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "revoked" in response.content.decode()
    assert ApiKey.objects.get(id=issued.api_key.id).revoked_at is not None


def test_alice_adds_a_member_and_bad_usernames_are_named(client, alice, carol, project):
    client.force_login(alice)
    ok = client.post(
        f"/p/{project.slug}/settings/members/", {"username": "carol", "role": "reviewer"}, HTTP_HX_REQUEST="true"
    )
    assert ok.status_code == 200
    assert Membership.objects.get(project=project, user=carol).role == "reviewer"
    bad = client.post(
        f"/p/{project.slug}/settings/members/", {"username": "nobody", "role": "viewer"}, HTTP_HX_REQUEST="true"
    )
    assert bad.status_code == 400
    assert "No user named" in bad.content.decode()


def test_home_sends_a_user_without_projects_to_create_one(client, carol):
    client.force_login(carol)
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/projects/new/"
    created = client.post("/projects/new/", {"name": "Carol's app"})
    assert created.status_code == 302
    assert Membership.objects.get(user=carol).role == "admin"


def test_login_with_the_password_works(client, alice):
    response = client.post("/login/", {"username": "alice", "password": TEST_PASSWORD})
    assert response.status_code == 302


def test_a_plain_form_post_shows_the_key_once_and_never_parks_it_in_the_session(client, alice, project):
    client.force_login(alice)
    response = client.post(f"/p/{project.slug}/settings/keys/", {"name": "plain", "scope": "write"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    key = ApiKey.objects.get(project=project, name="plain")
    shown = response.content.decode()
    start = shown.index('data-testid="new-key-secret">') + len('data-testid="new-key-secret">')
    plaintext = shown[start : shown.index("<", start)]
    assert plaintext.startswith(key.prefix)
    # Nothing of the secret is stored server-side: not in any session row, not on the next page.
    for session in Session.objects.all():
        assert plaintext not in json.dumps(session.get_decoded())
    assert plaintext not in client.get(f"/p/{project.slug}/settings/").content.decode()


def test_an_htmx_key_creation_is_not_stored_in_the_session_either(client, alice, project):
    client.force_login(alice)
    response = client.post(
        f"/p/{project.slug}/settings/keys/", {"name": "htmx", "scope": "admin"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert "sl_a_" in response.content.decode()
    for session in Session.objects.all():
        assert "sl_a_" not in json.dumps(session.get_decoded())


def test_only_admins_change_retention_and_bad_values_name_the_field(client, alice, bob, project):
    client.force_login(bob)  # a viewer
    url = f"/p/{project.slug}/settings/retention/"
    data = {"traces_days": 7, "scores_days": 30, "rollups_months": 13}
    assert client.post(url, data).status_code == 403
    page = client.get(f"/p/{project.slug}/settings/")
    assert b"Save retention" not in page.content and b"Traces and spans 30 days" in page.content
    client.force_login(alice)
    bad = client.post(url, {**data, "traces_days": 0}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 400 and b"Traces and spans (days)" in bad.content
    assert client.post(url, data).status_code == 302
    project.refresh_from_db()
    assert (project.retention_traces_days, project.retention_scores_days, project.retention_rollups_months) == (
        7,
        30,
        13,
    )
