"""The README's demo tour in a real browser, over real simulated traffic: the banner, the alert that names the
regressed slice, its traces, the review queue, the demo judge and its calibration (κ), the offline-vs-online divergence,
and stopping the simulator. Saves the README's
screenshots to docs/img/ (SIGHTLINE_SCREENSHOTS names another directory)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from apps.demo.bank import bank_load
from apps.demo.judge_server import DemoServer
from apps.demo.models import DemoSimulation
from apps.demo.scenario import Rollout, Script
from apps.demo.services import DEMO_JUDGE_NAME, demo_setup
from apps.judges.models import CalibrationRun
from apps.slis.models import AlertState
from apps.traces.models import Trace
from tests.demo.helpers import beats_until, settled, simulator_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("SIGHTLINE_SCREENSHOTS") or REPO / "docs" / "img")
SEEDED = 240


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"demo-{name}.png"))


@pytest.fixture
def demo(live_server, celery_worker, settings):
    """The demo project after `make run`'s first minutes, sped up: seeded, simulated through a rollout, alerted."""
    settings.JUDGE_ALLOWED_HOSTS = settings.ALERT_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    server = DemoServer(on_alert=lambda payload: None).start()
    settings.DEMO_SERVER_PORT = server.port
    try:
        setup = demo_setup(username="admin", password="pw-for-tests-123", traces=SEEDED)
        script = Script(bank_load(), seed=4, rollout=Rollout(after_seconds=180))
        simulator = simulator_for(live_server, setup.project, script=script, rate=6, speed=36)
        simulator.control.on_rollout = lambda s: DemoSimulation.objects.filter(project=setup.project).update(
            regressed_at=Trace.objects.order_by("-started_at").values_list("started_at", flat=True).first(),
            rollout={"route": s.rollout.route, "prompt_version": s.rollout.prompt_version},
        )
        # 108 requests (18 s at 6/s when the machine keeps up): a count, not a duration, so a loaded machine sends
        # the same traffic after the rollout instead of fewer requests than the alert's slices need.
        stats = simulator.run(max_requests=108)
        DemoSimulation.objects.filter(project=setup.project).update(requests_sent=stats.requests)
        settled(setup.project, SEEDED + stats.requests)
        beats_until(
            lambda: AlertState.objects.filter(project=setup.project, state="firing").exists(), timeout=120, extra=1
        )
        # The worker calibrated the demo judge on the seeded labels (the demo judge answers while the server is up).
        runs = CalibrationRun.objects.filter(project=setup.project)
        deadline = time.monotonic() + 60
        while not runs.filter(status="done", scored__gt=0).exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        yield setup
    finally:
        server.stop()


def test_the_demo_tour(page, login, demo):
    login(demo.project.memberships.get(role="admin").user)
    page.set_viewport_size({"width": 1360, "height": 860})

    # 1. The project's home: the banner says what is simulated and that a rollout happened.
    page.goto("/p/demo/")
    banner = page.locator("#demo-banner")
    expect(banner).to_contain_text("Simulated traffic is running")
    expect(banner).to_contain_text("rolled out on /support/billing")
    shot(page, "1-overview")

    # 2. The alert: firing for the new prompt version on that route, against its predecessor.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="SLIs & Alerts").click()
    page.goto("/p/demo/alerts/")
    row = page.get_by_test_id("alert-row").filter(has_text="firing")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("prompt_version=v4")
    expect(row).to_contain_text("route=/support/billing")
    expect(row).to_contain_text("prompt_version=v3")
    shot(page, "2-alerts")
    row.get_by_role("link").click()
    expect(page.locator("main")).to_contain_text("prompt_version=v4")
    shot(page, "3-alert")

    # 3. The slice's traces: refusals and invented answers.
    page.goto("/p/demo/traces/?route=/support/billing&prompt_version=v4")
    expect(page.locator("main")).to_contain_text("v4")
    shot(page, "4-traces")

    # 4. The review queue filled with the failures (thumbs-down and refusals are routed to it).
    page.goto("/p/demo/review/")
    expect(page.locator("main")).to_contain_text(re.compile(r"[1-9][0-9]* pending"))
    page.get_by_role("button", name="Next item").click()
    expect(page.get_by_test_id("verdict-fail")).to_be_visible()
    shot(page, "5-review")

    # 5. The demo judge is labelled as such.
    page.goto("/p/demo/judges/")
    expect(page.locator("main")).to_contain_text("demo judge")
    shot(page, "6-judges")

    # 6. The demo judge's page: its agreement with the seeded labels of the random sample, κ with its interval.
    page.get_by_role("link", name=DEMO_JUDGE_NAME).first.click()
    kappa = page.get_by_test_id("kappa-random")
    expect(kappa).to_have_text(re.compile(r"^-?[01]\.\d{3}$"))
    page.get_by_test_id("agreement-random").scroll_into_view_if_needed()
    shot(page, "7-judge-calibration")

    # 7. Offline vs online: v4's offline run is green, production is not; the refusal rate's gap is flagged. The run
    # is seconds long, so one daily bucket is asked to persist (live: 3 one-minute buckets on the 1 h range).
    page.goto("/p/demo/divergence/?range=24h&interval=1d&persist=1")
    flagged = page.locator('[data-testid="divergence-row"][data-metric="refusal"][data-version="v4"]')
    expect(flagged).to_have_attribute("data-flagged", "true")
    expect(flagged.get_by_test_id("divergence-flag")).to_contain_text("fallen behind")
    expect(page.locator('[data-testid="divergence-row"][data-metric="refusal"][data-version="v3"]')).to_have_attribute(
        "data-flagged", "false"
    )
    shot(page, "8-divergence")

    # 8. Stop the simulated traffic from the banner.
    page.get_by_role("button", name="Stop simulated traffic").click()
    expect(page.locator("#demo-banner")).to_contain_text("Simulated traffic is stopped (by admin)")
    assert not DemoSimulation.objects.get(project=demo.project).is_running
