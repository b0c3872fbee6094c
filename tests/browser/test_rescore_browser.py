"""After a release changes a check's logic, one click on the evaluators page re-scores the last 24 h."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.evaluators.checks.refusal import RefusalCheck
from apps.evaluators.models import Evaluator
from apps.evaluators.services import evaluator_versions_sync
from apps.scores.models import Score
from tests.traces.factories import simple_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("SIGHTLINE_SCREENSHOTS", "")  # a directory, to look at the layout


def test_one_click_rescores_recent_traffic_with_the_new_version(
    page, login, alice, project, celery_worker, monkeypatch
):
    now = timezone.now()
    for minutes, text in ((50, "Your order ships tomorrow."), (30, "Lo siento, pero no puedo ayudarte."), (10, "OK")):
        simple_trace(project, at=now - timedelta(minutes=minutes), output_text=text)
    refusal_scores = Score.objects.filter(project=project, name="refusal")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and refusal_scores.count() < 3:
        time.sleep(0.2)
    old = Evaluator.objects.get(project=project, name="refusal").version

    # A release changes the refusal check; the beat's sync records the new version.
    monkeypatch.setattr(RefusalCheck, "logic_version", "99")
    evaluator_versions_sync()
    new = Evaluator.objects.get(project=project, name="refusal").version
    assert new != old

    login(alice)
    page.goto(f"/p/{project.slug}/evaluators/")
    row = page.locator('tr[data-name="refusal"]')
    expect(row.get_by_test_id("version-change")).to_contain_text("check logic changed")
    row.get_by_test_id("rescore-24h").click()
    cell = row.get_by_test_id("rescore-cell")
    expect(cell).to_have_attribute("data-status", "done", timeout=20_000)
    expect(cell.get_by_test_id("rescore-progress")).to_have_text("3 / 3")
    expect(row.get_by_test_id("rescore-24h")).to_be_visible()  # finished: the button is back
    # The page reloads once it is done, so the row's figures are the new version's: one refusal of three.
    expect(row.get_by_test_id("score-count")).to_have_text("3")
    expect(row.get_by_test_id("pass-rate")).to_contain_text("66.7%")
    assert set(refusal_scores.values_list("evaluator_version", flat=True)) == {new}
    assert refusal_scores.count() == 3
    if SCREENSHOTS:
        from apps.scores.rollups import rollups_drain

        rollups_drain()
        page.set_viewport_size({"width": 1440, "height": 900})
        page.screenshot(path=f"{SCREENSHOTS}/evaluators_rescore.png", full_page=True)
        page.goto(f"/p/{project.slug}/metrics/?metric=refusal&range=24h")
        page.wait_for_timeout(1500)
        page.screenshot(path=f"{SCREENSHOTS}/refusal_version_step.png", full_page=True)
