"""The demo banner: shown on a simulated project's pages; its switch stops and resumes the simulator (admins)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.demo.models import DemoSimulation
from apps.demo.services import simulation_should_run
from apps.projects.models import Membership
from apps.projects.services import project_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(alice, bob):
    """The demo project (the banner shows on it only), alice its admin and bob a viewer."""
    demo = project_create(name="Demo", slug="demo", owner=alice)
    Membership.objects.create(project=demo, user=bob, role=Membership.Role.VIEWER)
    return demo


@pytest.fixture
def simulated(project):
    return DemoSimulation.objects.create(project=project)


def toggle_url(project) -> str:
    return reverse("demo:simulation-toggle", kwargs={"project_slug": project.slug})


def test_the_banner_shows_on_a_simulated_projects_pages_only(client, alice, project, simulated):
    client.force_login(alice)
    page = client.get(reverse("slis:list", kwargs={"project_slug": project.slug})).content.decode()
    assert 'id="demo-banner"' in page and "Stop simulated traffic" in page and "demo judge" in page
    other = project_create(name="Other", owner=alice)
    DemoSimulation.objects.create(project=other)  # simulated with --project: no banner outside the demo project
    page = client.get(reverse("slis:list", kwargs={"project_slug": other.slug})).content.decode()
    assert 'id="demo-banner"' not in page
    simulated.delete()
    page = client.get(reverse("slis:list", kwargs={"project_slug": project.slug})).content.decode()
    assert 'id="demo-banner"' not in page


def test_an_admin_stops_and_resumes_the_simulator_from_the_banner(client, alice, project, simulated):
    client.force_login(alice)
    back = reverse("slis:list", kwargs={"project_slug": project.slug})
    response = client.post(toggle_url(project), {"running": "0", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert simulation_should_run(project_id=project.id, requests_sent=12) is False
    simulated.refresh_from_db()
    assert simulated.stopped_by == "alice" and simulated.requests_sent == 12 and simulated.heartbeat_at
    page = client.get(back).content.decode()
    assert "Simulated traffic is stopped (by alice)" in page and "Resume simulated traffic" in page
    client.post(toggle_url(project), {"running": "1", "next": "https://elsewhere.example/"})
    assert simulation_should_run(project_id=project.id, requests_sent=12) is True


def test_viewers_cannot_switch_the_simulator_and_outsiders_get_404(client, bob, carol, project, simulated):
    client.force_login(bob)
    assert client.post(toggle_url(project), {"running": "0"}).status_code == 403
    page = client.get(reverse("slis:list", kwargs={"project_slug": project.slug})).content.decode()
    assert 'id="demo-banner"' in page and "Stop simulated traffic" not in page
    client.force_login(carol)
    assert client.post(toggle_url(project), {"running": "0"}).status_code == 404
    assert client.get(toggle_url(project)).status_code in (404, 405)
    simulated.refresh_from_db()
    assert simulated.is_running
