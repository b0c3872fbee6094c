"""Judge pages: the list never shows a stored key, and only admins add judges."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.judges.models import Judge
from apps.judges.secrets import secret_decrypt
from apps.judges.services import judge_create

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _fictional_hosts_allowed(settings) -> None:
    """These judges are never called: allow their hosts so saving them needs no DNS lookup."""
    settings.JUDGE_ALLOWED_HOSTS = ["x.test", "api.openai.com"]


SECRET = "sk-test-very-secret-0123456789"


def judge_data(**overrides: str) -> dict[str, str]:
    """Return a valid judge submission, with overrides."""
    data = {
        "name": "gpt4o",
        "base_url": "https://api.openai.com/v1",
        "model": "gpt-4o-2024-08-06",
        "api_key_env": "",
        "api_key": "",
        "timeout_s": "30",
        "input_price_per_mtok": "2.5",
        "output_price_per_mtok": "10",
    }
    data.update(overrides)
    return data


def test_list_shows_where_keys_come_from_never_the_key(client, bob, project):
    judge_create(project=project, name="stored", base_url="https://x.test/v1", model="m-2024", api_key=SECRET)
    judge_create(
        project=project, name="env", base_url="https://x.test/v1", model="m-2024", api_key_env="SIGHTLINE_JUDGE_KEY_X"
    )
    client.force_login(bob)
    response = client.get(reverse("judges:list", args=[project.slug]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "stored (encrypted)" in body and "from <code>$SIGHTLINE_JUDGE_KEY_X</code>" in body
    assert SECRET not in body
    assert 'data-testid="judge-form"' not in body  # viewers see no create form


def test_alice_adds_a_judge_with_a_stored_key(client, alice, project):
    client.force_login(alice)
    response = client.post(reverse("judges:create", args=[project.slug]), judge_data(api_key=SECRET), **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="judges"')
    assert "gpt-4o-2024-08-06" in body and "stored (encrypted)" in body and SECRET not in body
    judge = Judge.objects.get(project=project, name="gpt4o")
    assert judge.api_key_encrypted != SECRET and secret_decrypt(judge.api_key_encrypted) == SECRET
    assert judge.input_price_per_mtok == 2.5


def test_a_plain_post_redirects_to_the_list(client, alice, project):
    client.force_login(alice)
    response = client.post(
        reverse("judges:create", args=[project.slug]), judge_data(api_key_env="SIGHTLINE_JUDGE_KEY_OPENAI")
    )
    assert response.status_code == 302
    assert Judge.objects.get(project=project, name="gpt4o").api_key_env == "SIGHTLINE_JUDGE_KEY_OPENAI"


def test_invalid_judges_answer_400_naming_the_field_and_drop_the_key(client, alice, project):
    judge_create(project=project, name="gpt4o", base_url="https://x.test/v1", model="m-2024")
    client.force_login(alice)
    url = reverse("judges:create", args=[project.slug])
    response = client.post(url, judge_data(api_key=SECRET), **HTMX)
    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-field="name"' in body and "exists already" in body
    assert SECRET not in body  # a failed submit never echoes the secret
    response = client.post(url, judge_data(name="other", base_url="not a url", api_key_env="bad name"), **HTMX)
    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-field="base_url"' in body and 'data-field="api_key_env"' in body
    assert Judge.objects.filter(project=project).count() == 1


def test_bob_cannot_add_judges_and_carol_gets_404(client, bob, carol, project):
    client.force_login(bob)
    assert client.post(reverse("judges:create", args=[project.slug]), judge_data()).status_code == 403
    client.force_login(carol)
    assert client.get(reverse("judges:list", args=[project.slug])).status_code == 404
    assert client.post(reverse("judges:create", args=[project.slug]), judge_data()).status_code == 404
    assert not Judge.objects.exists()
