"""The judge page in a real browser: test connection, calibrate against labels, a shadow version, promote it."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from apps.judges.models import Judge, JudgeVersion
from tests.judges.calibration_helpers import agreeing, judge_on, labeled_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("SIGHTLINE_SCREENSHOTS", "")


def test_judge_page_calibrates_compares_a_shadow_and_promotes_it(
    page, login, alice, project, fake_openai, celery_worker
):
    for i in range(6):
        labeled_trace(project, alice, good=i % 2 == 0)
    labeled_trace(project, alice, good=False, sample="routed")
    fake_openai.responder = agreeing  # answers as the pinned test-model-2024-08-06
    judge = judge_on(project, fake_openai)
    login(alice)

    page.goto(f"/p/{project.slug}/judges/")
    page.get_by_role("link", name="grader").click()
    expect(page.get_by_test_id("judge-name")).to_have_text("grader")
    expect(page.get_by_test_id("current-version")).to_have_text("v1")

    # One real request through the judge client; the answer is shown.
    page.get_by_test_id("test-connection").click()
    expect(page.get_by_test_id("test-result")).to_contain_text("answered")
    expect(page.get_by_test_id("test-result")).to_contain_text("test-model-2024-08-06")

    # Calibrate: the real worker grades the labeled traces; the run's status is polled until it finishes.
    page.get_by_test_id("calibrate").click()
    expect(page.get_by_test_id("run-status")).to_contain_text("Done", timeout=20_000)
    page.reload()
    expect(page.get_by_test_id("kappa-random")).to_have_text("1.000")
    expect(page.get_by_test_id("agreement-random")).to_contain_text("6")
    expect(page.get_by_test_id("agreement-routed")).to_contain_text("1")
    expect(page.get_by_test_id("probe-family")).to_have_count(2)

    # An edit as a shadow: live traffic keeps v1; v2 is calibrated beside it. The fake endpoint still answers as
    # test-model-2024-08-06, so every v2 judgment is a model mismatch, and the page says so.
    form = page.get_by_test_id("edit-form")
    form.locator("#id_model").fill("test-model-next")
    form.locator("#id_shadow").check()
    form.get_by_test_id("save").click()
    expect(page.get_by_test_id("current-version")).to_have_text("v1")
    expect(page.get_by_test_id("shadow-change")).to_contain_text("test-model-next")
    for _ in range(40):  # the new version's own calibration runs on the worker
        if JudgeVersion.objects.filter(judge=judge, number=2, judged_count=7).exists():
            break
        page.wait_for_timeout(500)
    page.reload()
    expect(page.get_by_test_id("shadow-kappa")).to_have_text("1.000")
    expect(page.get_by_test_id("mismatch-banner")).to_contain_text("7 of 7")
    expect(page.get_by_test_id("mismatch-banner")).to_contain_text("test-model-next")
    if SCREENSHOTS:
        page.set_viewport_size({"width": 1440, "height": 900})
        page.screenshot(path=f"{SCREENSHOTS}/judge_detail.png", full_page=True)

    # A person promotes it: v2 is current, v1 stays readable.
    page.get_by_test_id("promote").click()
    expect(page.get_by_test_id("current-version")).to_have_text("v2")
    expect(page.get_by_test_id("version-row")).to_have_count(2)
    expect(page.get_by_test_id("version-row").first).to_contain_text("test-model-next")
    assert Judge.objects.get(id=judge.id).model == "test-model-next"

    # Deactivate: it stops judging, its history stays.
    page.get_by_test_id("deactivate").click()
    expect(page.get_by_test_id("judge-state")).to_contain_text("inactive")
    expect(page.get_by_test_id("version-row")).to_have_count(2)
