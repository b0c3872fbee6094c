"""`manage.py simulate`: its arguments, SIGHTLINE_DEMO=0, and pausing while the banner's flag says stop."""

from __future__ import annotations

import io
import threading
import time

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.demo.bank import bank_load
from apps.demo.models import DemoSimulation
from apps.demo.scenario import Script
from apps.demo.services import simulation_should_run
from apps.projects.models import ApiKey
from tests.demo.helpers import simulator_for


@pytest.mark.django_db
def test_simulate_refuses_bad_arguments_and_an_unknown_project(project):
    with pytest.raises(CommandError, match="--rate and --speed must be positive"):
        call_command("simulate", "--project", project.slug, "--rate", "0")
    with pytest.raises(CommandError, match="no project with the slug 'nope'"):
        call_command("simulate", "--project", "nope")


@pytest.mark.django_db
def test_simulate_is_off_with_sightline_demo_0(project, settings):
    settings.SIGHTLINE_DEMO = False
    out = io.StringIO()
    call_command("simulate", "--project", project.slug, stdout=out)
    assert "SIGHTLINE_DEMO=0" in out.getvalue()
    assert not ApiKey.objects.filter(project=project, name__startswith="demo simulator").exists()


@pytest.mark.django_db(transaction=True)
def test_the_simulator_pauses_while_stopped_and_goes_on_when_resumed(live_server, project):
    running = threading.Event()
    simulator = simulator_for(live_server, project, script=Script(bank_load(), seed=3), rate=20, speed=1)
    simulator.control.should_run = (
        lambda stats: simulation_should_run(project_id=project.id, requests_sent=stats.requests) and running.is_set()
    )
    simulator.control.poll_seconds = 0.2
    worker = threading.Thread(target=simulator.run, kwargs={"max_requests": 5})
    worker.start()
    time.sleep(1.5)
    assert simulator.stats.requests == 0  # stopped: nothing sent, the script's clock does not move
    running.set()
    worker.join(timeout=30)
    assert not worker.is_alive() and simulator.stats.requests == 5
    assert project.demo_simulation.heartbeat_at is not None  # the simulator polled the flag while it waited


@pytest.mark.django_db(transaction=True)
def test_simulate_runs_against_a_server_and_records_the_rollout(live_server, project):
    DemoSimulation.objects.create(project=project, regressed_at=timezone.now(), rollout={"route": "/old"})
    out = io.StringIO()
    call_command(
        "simulate",
        *("--project", project.slug, "--url", live_server.url, "--rate", "10", "--duration", "2"),
        *("--speed", "60", "--regress-after", "60"),
        stdout=out,
    )
    assert "rollout: prompt version v4 replaces v3 on /support/billing" in out.getvalue()
    simulation = DemoSimulation.objects.get(project=project)
    assert simulation.rollout == {"route": "/support/billing", "prompt_version": "v4", "previous": "v3"}
    assert simulation.regressed_at is not None and simulation.requests_sent > 0
    keys = ApiKey.objects.filter(project=project, name__startswith="demo simulator", revoked_at__isnull=True)
    assert sorted(keys.values_list("scope", flat=True)) == ["feedback", "write"]
