"""The "Send your first trace" page: endpoint, key on request, snippets per tool, and the live wait."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.projects.models import ApiKey
from apps.projects.services import api_key_authenticate
from apps.traces.onboarding import KEY_PLACEHOLDER, onboarding_snippets
from tests.traces.factories import simple_trace

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_a_new_project_lands_on_send_your_first_trace(client, alice):
    client.force_login(alice)
    response = client.post("/projects/new/", {"name": "Fresh app"}, follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0].endswith("/traces/start/")
    assert "Send your first trace" in html
    assert "http://testserver" in html  # the absolute endpoint, from the request
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in html and "OTEL_EXPORTER_OTLP_HEADERS" in html
    for tab in ("Langfuse", "Phoenix", "Traceloop", "OpenInference", "curl"):
        assert f"Coming from {tab}" in html or tab in html
    assert "Waiting for the first trace" in html and 'hx-trigger="every 2s"' in html
    assert ApiKey.objects.filter(project__name="Fresh app").count() == 0  # no key until asked for


def test_the_page_uses_the_requests_host_and_scheme(client, alice, project, settings):
    client.force_login(alice)
    url = reverse("traces:onboarding", args=[project.slug])
    settings.ALLOWED_HOSTS = ["sightline.example.com"]
    html = client.get(url, HTTP_HOST="sightline.example.com", secure=True).content.decode()
    assert "OTEL_EXPORTER_OTLP_ENDPOINT=&quot;https://sightline.example.com&quot;" in html


def test_an_admin_creates_a_key_shown_once_and_filled_into_the_snippets(client, alice, project):
    client.force_login(alice)
    response = client.post(reverse("traces:onboarding-key", args=[project.slug]), **HTMX)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="onboarding-snippets">')
    key = ApiKey.objects.get(project=project, name="first trace")
    secret = html.split('data-testid="new-key-secret">', 1)[1].split("<", 1)[0]
    assert secret.startswith(key.prefix) and key.key_hash != secret
    assert api_key_authenticate(plaintext=secret).project == project
    assert f"Authorization=Bearer {secret}" in html and KEY_PLACEHOLDER not in html
    page = client.get(reverse("traces:onboarding", args=[project.slug])).content.decode()
    assert secret not in page  # shown once


def test_a_viewer_cannot_create_a_key(client, bob, project):
    client.force_login(bob)
    assert client.post(reverse("traces:onboarding-key", args=[project.slug])).status_code == 403
    html = client.get(reverse("traces:onboarding", args=[project.slug])).content.decode()
    assert "Ask an admin" in html and 'data-testid="create-key"' not in html


def test_outsider_gets_404(client, carol, project):
    client.force_login(carol)
    for name in ("traces:onboarding", "traces:onboarding-status"):
        assert client.get(reverse(name, args=[project.slug])).status_code == 404


def test_status_polls_until_a_trace_arrives_then_links_it_and_stops(client, alice, project):
    client.force_login(alice)
    url = reverse("traces:onboarding-status", args=[project.slug])
    waiting = client.get(url, **HTMX)
    assert waiting.status_code == 200 and "Waiting for the first trace" in waiting.content.decode()
    trace = simple_trace(project, name="hello")
    arrived = client.get(url, **HTMX)
    assert arrived.status_code == 286  # htmx stops polling
    assert f"/traces/{trace.trace_id}/" in arrived.content.decode() and "hx-trigger" not in arrived.content.decode()


def test_curl_snippet_is_a_valid_batch_with_iso_utc_times():
    import json

    curl = next(s for s in onboarding_snippets(endpoint="http://h", key="k") if s.slug == "curl")
    body = json.loads(curl.code.split("-d '", 1)[1].rsplit("'", 1)[0])
    trace = body["traces"][0]
    assert len(trace["trace_id"]) == 32 and trace["started_at"].endswith("Z")


def test_curl_snippet_is_accepted_by_the_rest_api(client, api_key, project):
    import json

    from apps.traces.models import Trace

    curl = next(s for s in onboarding_snippets(endpoint="http://h", key=api_key) if s.slug == "curl")
    body = curl.code.split("-d '", 1)[1].rsplit("'", 1)[0]
    response = client.post(
        "/api/v1/traces", data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_key}"
    )
    assert response.status_code in (200, 202), response.content
    assert Trace.objects.filter(project=project, trace_id=json.loads(body)["traces"][0]["trace_id"]).exists()
