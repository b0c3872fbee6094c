"""seed_demo: the admin login (password from the environment or generated, never a constant), and the demo data."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from apps.demo.services import LEGACY_ADMIN_PASSWORD, admin_password_generate, demo_setup, demo_traces_seed
from apps.projects.models import Project
from apps.projects.services import demo_seed, project_create
from apps.scores.models import Score
from apps.traces.models import Trace

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_hasher(settings) -> None:
    """Hash passwords cheaply: these tests check many of them."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def no_env_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure neither the environment nor a developer's .env supplies the admin login."""
    monkeypatch.setenv("SIGHTLINE_ADMIN_PASSWORD", "")  # set but empty: wins over .env, reads as unset
    monkeypatch.setenv("SIGHTLINE_ADMIN_PASSWORD_FILE", "")
    monkeypatch.setenv("SIGHTLINE_ADMIN_USER", "admin")


def seed(*args: str) -> str:
    """Run seed_demo with a small demo and return what it printed."""
    out = io.StringIO()
    call_command("seed_demo", "--traces", "4", *args, stdout=out)
    return out.getvalue()


def admin():
    """Return the seeded admin user."""
    return get_user_model().objects.get(username="admin")


def test_seed_demo_generates_the_admin_password_and_prints_it_only_once(no_env_password) -> None:
    first = seed()
    login = next(line for line in first.splitlines() if line.startswith("Login: admin / "))
    password = login.removeprefix("Login: admin / ")
    assert password != LEGACY_ADMIN_PASSWORD and len(password) >= 16
    assert admin().check_password(password)
    assert "set SIGHTLINE_ADMIN_PASSWORD to choose it" in first

    again = seed()
    assert password not in again
    assert "Login: admin (password as set before" in again
    assert admin().check_password(password)  # a later run changes nothing


def test_admin_password_generate_is_random() -> None:
    assert admin_password_generate() != admin_password_generate()


def test_seed_demo_takes_the_admin_password_from_the_environment(
    no_env_password, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGHTLINE_ADMIN_PASSWORD", "correct horse battery staple")
    monkeypatch.setenv("SIGHTLINE_ADMIN_USER", "boss")
    output = seed()
    assert get_user_model().objects.get(username="boss").check_password("correct horse battery staple")
    assert "correct horse battery staple" not in output  # the person set it; no need to echo a secret
    assert "Login: boss / the password in SIGHTLINE_ADMIN_PASSWORD" in output


def test_seed_demo_replaces_the_old_built_in_password(no_env_password) -> None:
    demo_seed(username="admin", password=LEGACY_ADMIN_PASSWORD)  # what earlier versions seeded
    output = seed()
    password = next(line for line in output.splitlines() if line.startswith("Login: admin / ")).split(" / ")[1]
    assert not admin().check_password(LEGACY_ADMIN_PASSWORD)
    assert admin().check_password(password)


def test_seed_demo_leaves_a_changed_password_alone(no_env_password, monkeypatch: pytest.MonkeyPatch) -> None:
    demo_seed(username="admin", password="chosen-by-the-admin")
    monkeypatch.setenv("SIGHTLINE_ADMIN_PASSWORD", "something-else")
    output = seed()
    assert admin().check_password("chosen-by-the-admin")
    assert "something-else" not in output


def test_seed_demo_stores_scored_traffic_and_the_key_once(no_env_password) -> None:
    first = seed()
    project = Project.objects.get(slug="demo")
    assert Trace.objects.filter(project=project).count() == 4
    assert Score.objects.filter(project=project).exists()
    assert "Demo project 'demo' API key: " in first
    second = seed()
    assert Trace.objects.filter(project=project).count() == 4
    assert "API key: " not in second and "its API key was printed at the first run" in second


def test_demo_traces_seed_skips_a_project_with_traces(alice) -> None:
    project = project_create(name="Other", slug="other", owner=alice)
    assert demo_traces_seed(project=project, count=3) == 3
    assert demo_traces_seed(project=project, count=3) == 0


def test_demo_setup_reports_a_generated_password() -> None:
    result = demo_setup(username="admin", password="", traces=1)
    assert result.password_generated and result.password
    assert demo_setup(username="admin", password="", traces=1).password == ""


def test_demo_traces_come_with_user_feedback(alice) -> None:
    project = project_create(name="Voted", slug="voted", owner=alice)
    demo_traces_seed(project=project, count=120)
    feedback = Score.objects.filter(project=project, source="feedback")
    assert feedback.filter(name="thumbs_down", value=1.0).exists() and feedback.filter(name="rating").exists()
    assert Trace.objects.filter(project=project, has_feedback=True).count() == len(
        set(feedback.values_list("trace_id", flat=True))
    )
