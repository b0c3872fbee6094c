"""Judge secrets cannot leak: key sources, who may configure, and where a judge may connect."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from apps.judges.llm import JudgeInput, JudgeOutputInvalid
from apps.judges.models import Judge
from apps.judges.rubrics import HELPFULNESS
from apps.judges.services import judge_api_key, judge_client_for, judge_create
from apps.projects.services import api_key_create
from apps.traces.api.views import BATCH_EXAMPLE

pytestmark = pytest.mark.django_db

ITEM = JudgeInput(question="What is 2+2?", answer="4")


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def judge_payload(**overrides: object) -> dict[str, object]:
    return {"name": "grader", "base_url": "https://api.openai.com/v1", "model": "gpt-4o-2024-08-06", **overrides}


@pytest.fixture
def public_host_allowed(settings) -> None:
    """api.openai.com is allowed by name so that saving it needs no DNS lookup in tests."""
    settings.JUDGE_ALLOWED_HOSTS = ["api.openai.com"]


# ---------------------------------------------------------------- key sources


@pytest.mark.usefixtures("public_host_allowed")
@pytest.mark.parametrize(
    "name", ["SECRET_KEY", "DATABASE_URL", "JUDGE_SECRETS_KEY", "OPENAI_API_KEY", "SIGHTLINE_JUDGE_KEY_"]
)
def test_api_key_env_outside_the_prefix_is_a_400_naming_the_field(admin_api_client, project, name):
    response = admin_api_client.post("/api/v1/judges", judge_payload(api_key_env=name), format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "api_key_env"
    assert not Judge.objects.filter(project=project).exists()


@pytest.mark.usefixtures("public_host_allowed")
def test_the_form_refuses_other_variables_too(client, alice, project):
    client.force_login(alice)
    data = {**judge_payload(api_key_env="SECRET_KEY"), "timeout_s": "30", "api_key": ""}
    response = client.post(reverse("judges:create", args=[project.slug]), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert 'data-field="api_key_env"' in response.content.decode()
    assert not Judge.objects.filter(project=project).exists()


@pytest.mark.usefixtures("public_host_allowed")
def test_a_prefixed_variable_is_read(project, monkeypatch):
    monkeypatch.setenv("SIGHTLINE_JUDGE_KEY_OPENAI", "sk-from-env")
    judge = judge_create(
        project=project,
        name="g",
        base_url="https://api.openai.com/v1",
        model="m",
        api_key_env="SIGHTLINE_JUDGE_KEY_OPENAI",
    )
    assert judge_api_key(judge) == "sk-from-env"


def test_an_old_row_naming_another_variable_never_sends_it(project, fake_openai, settings):
    # A row saved before the rule (straight into the table) names SECRET_KEY: the worker must not read it.
    judge = Judge.objects.create(
        project=project, name="old", base_url=fake_openai.base_url, model="m-2024", api_key_env="SECRET_KEY"
    )
    assert judge_api_key(judge) == ""
    client = judge_client_for(judge)
    try:
        client.grade(rubric=HELPFULNESS, item=ITEM)
    except JudgeOutputInvalid:
        pass  # the fake's default answer may not fit the rubric; the request is what matters
    finally:
        client.close()
    assert len(fake_openai.requests) == 1
    sent = json.dumps(fake_openai.requests[0]["headers"])
    assert settings.SECRET_KEY not in sent


# ---------------------------------------------------------------- who may configure


@pytest.mark.usefixtures("public_host_allowed")
def test_write_and_read_keys_cannot_configure_but_can_read(project):
    write = client_with(api_key_create(project=project, name="w", scope="write").plaintext)
    read = client_with(api_key_create(project=project, name="r", scope="read").plaintext)
    for client in (write, read):
        assert client.post("/api/v1/judges", judge_payload(), format="json").status_code == 403
        evaluator = {"name": "short", "kind": "format", "config": {"max_length": 5}}
        assert client.post("/api/v1/evaluators", evaluator, format="json").status_code == 403
        assert client.get("/api/v1/judges").status_code == 200
        listed = client.get("/api/v1/evaluators")
        assert listed.status_code == 200
        ev_id = listed.json()["results"][0]["id"]
        assert client.put(f"/api/v1/evaluators/{ev_id}", {"sample_rate": 0.1}, format="json").status_code == 403
        window = {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}
        assert client.post(f"/api/v1/evaluators/{ev_id}/backfills", window, format="json").status_code == 403
    assert not Judge.objects.filter(project=project).exists()


@pytest.mark.usefixtures("public_host_allowed")
def test_an_admin_key_configures_and_still_ingests(admin_api_client, project):
    assert admin_api_client.post("/api/v1/judges", judge_payload(), format="json").status_code == 201
    assert admin_api_client.post("/api/v1/traces", BATCH_EXAMPLE, format="json").status_code == 200
    assert admin_api_client.get("/api/v1/traces").status_code == 200


def test_a_feedback_key_reads_nothing(project):
    feedback = client_with(api_key_create(project=project, name="f", scope="feedback").plaintext)
    assert feedback.get("/api/v1/traces").status_code == 403
    assert feedback.get("/api/v1/judges").status_code == 403


def test_a_viewer_session_cannot_add_a_judge(client, bob, project):
    client.force_login(bob)
    response = client.post(reverse("judges:create", args=[project.slug]), {**judge_payload(), "timeout_s": "30"})
    assert response.status_code == 403
    assert not Judge.objects.filter(project=project).exists()


@pytest.mark.usefixtures("public_host_allowed")
def test_create_project_prints_an_ingest_and_an_admin_key(db):
    out = StringIO()
    call_command("create_project", "Scripted", "--json", stdout=out)
    printed = json.loads(out.getvalue())
    assert set(printed) == {"project", "api_key", "admin_key"}
    assert printed["api_key"].startswith("sl_w_") and printed["admin_key"].startswith("sl_a_")
    assert client_with(printed["api_key"]).post("/api/v1/judges", judge_payload(), format="json").status_code == 403
    assert client_with(printed["admin_key"]).post("/api/v1/judges", judge_payload(), format="json").status_code == 201


# ---------------------------------------------------------------- where a judge may connect


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:{port}/v1",
        "http://10.0.0.7/v1",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:{port}/v1",
        "http://[::ffff:127.0.0.1]:{port}/v1",
        "http://localhost:{port}/v1",
        "http://vm:{port}/v1",  # this machine's name: resolves to 127.0.0.1 through /etc/hosts
        "ftp://api.openai.com/v1",
        "file:///etc/passwd",
    ],
)
def test_private_or_non_http_base_urls_are_a_400_naming_the_field(
    admin_api_client, project, fake_openai, settings, base_url
):
    settings.JUDGE_ALLOWED_HOSTS = []  # the default: nothing private is allowed
    port = fake_openai.base_url.split(":")[2].split("/")[0]
    response = admin_api_client.post(
        "/api/v1/judges", judge_payload(base_url=base_url.format(port=port)), format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "base_url"
    assert fake_openai.requests == []


def test_an_allowed_host_may_be_private(admin_api_client, project, fake_openai):
    # fake_openai's fixture lists 127.0.0.1 in JUDGE_ALLOWED_HOSTS, as an admin would for Ollama.
    response = admin_api_client.post("/api/v1/judges", judge_payload(base_url=fake_openai.base_url), format="json")
    assert response.status_code == 201


def test_a_saved_judge_is_checked_again_at_call_time_and_sends_nothing(project, fake_openai, settings):
    judge = judge_create(project=project, name="local", base_url=fake_openai.base_url, model="m-2024", api_key="sk-x")
    settings.JUDGE_ALLOWED_HOSTS = []  # the admin withdrew the permission (or the name now resolves elsewhere)
    client = judge_client_for(judge)
    with pytest.raises(JudgeOutputInvalid, match="refused"):
        client.grade(rubric=HELPFULNESS, item=ITEM)
    client.close()
    assert fake_openai.requests == []
