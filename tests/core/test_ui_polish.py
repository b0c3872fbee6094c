"""First-hour polish: styled error pages, favicon, API docs link, the project switcher, one time format."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from apps.projects.context_processors import project_switch_url
from apps.projects.services import project_create
from tests.traces.factories import BASE_TIME, simple_trace

pytestmark = pytest.mark.django_db


def test_404_is_a_styled_page_with_debug_off(client, alice, settings):
    assert settings.DEBUG is False
    client.force_login(alice)
    response = client.get("/no/such/page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in html and "sightline/app.css" in html and 'data-testid="error-page"' in html


def test_403_is_a_styled_page_naming_the_role_needed(client, bob, project):
    client.force_login(bob)
    response = client.post(reverse("projects:key-create", args=[project.slug]), {"name": "x", "scope": "write"})
    html = response.content.decode()
    assert response.status_code == 403
    assert "Not allowed" in html and "needs the admin role" in html and "sightline/app.css" in html


@override_settings(ROOT_URLCONF="tests.core.urls_boom")
def test_500_is_a_styled_page_with_debug_off(client, settings):
    assert settings.DEBUG is False
    client.raise_request_exception = False
    response = client.get("/boom/")
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html and "sightline/app.css" in html and "boom" not in html


def test_favicon_is_linked_and_served(client, alice, project):
    client.force_login(alice)
    html = client.get(reverse("projects:settings", args=[project.slug])).content.decode()
    assert '<link rel="icon" href="/static/sightline/favicon.svg" type="image/svg+xml">' in html
    redirect = client.get("/favicon.ico")
    assert redirect.status_code == 302 and redirect["Location"] == "/static/sightline/favicon.svg"


def test_api_docs_are_linked_and_unbuilt_sections_are_hidden(client, alice, project):
    client.force_login(alice)
    html = client.get(reverse("projects:settings", args=[project.slug])).content.decode()
    assert 'href="/api/docs/"' in html
    assert 'class="soon"' not in html and "Arrives with" not in html
    assert f'href="/p/{project.slug}/datasets/"' in html  # Datasets arrived: a real link, not a placeholder


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/p/acme/evaluators/", "/p/other/evaluators/"),
        ("/p/acme/evaluators/12/", "/p/other/evaluators/"),
        ("/p/acme/traces/4bf92f3577b34da6a3ce929d0e0e4736/", "/p/other/traces/"),
        ("/p/acme/settings/", "/p/other/settings/"),
        ("/projects/new/", "/p/other/traces/"),
    ],
)
def test_the_switcher_keeps_the_section(path, expected):
    assert project_switch_url(path_info=path, slug="other") == expected


def test_the_switcher_on_a_page_links_the_same_page_of_each_project(client, alice, project):
    other = project_create(name="Other bot", owner=alice)
    client.force_login(alice)
    html = client.get(reverse("judges:list", args=[project.slug])).content.decode()
    assert f'<option value="/p/{other.slug}/judges/"' in html


def test_the_trace_list_shows_iso_8601_utc_times(client, alice, project):
    simple_trace(project, name="hello", at=BASE_TIME)
    client.force_login(alice)
    html = client.get(reverse("traces:list", args=[project.slug])).content.decode()
    assert "2025-03-14T09:26:53Z" in html and "+0000" not in html


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("since=2025-03-15&until=2025-03-14", "until", "must be after since"),
        ("score=no_such_metric:failed", "score", "no score named 'no_such_metric'"),
    ],
)
def test_impossible_filters_answer_a_visible_message(client, alice, project, api_client, query, field, message):
    simple_trace(project, name="hello", at=BASE_TIME)
    client.force_login(alice)
    response = client.get(reverse("traces:list", args=[project.slug]) + "?" + query)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="filter-error"' in html and message in html.replace("&#x27;", "'")
    api = api_client.get("/api/v1/traces?" + query)
    assert api.status_code == 400 and api.json()["field"] == field
