"""Evaluators in a real browser: defaults with pass rates, a new regex evaluator with preview, and a live backfill."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.evaluators.models import Backfill, Evaluator
from apps.judges.models import Judge
from tests.traces.factories import rag_trace, simple_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("SIGHTLINE_SCREENSHOTS", "")  # a directory, to look at the layout


def test_create_preview_save_and_backfill_a_regex_evaluator(page, login, alice, project, celery_worker):
    now = timezone.now()
    simple_trace(project, at=now - timedelta(minutes=40), output_text="Refunds take 5 days.")
    simple_trace(project, at=now - timedelta(minutes=30), output_text="As an AI model, I cannot promise that.")
    simple_trace(project, at=now - timedelta(minutes=20), output_text="Your order ships tomorrow.")
    rag_trace(project, at=now - timedelta(minutes=10))
    login(alice)

    # The real worker scores ingested traces with the defaults; the list shows their 24 h figures.
    page.goto(f"/p/{project.slug}/traces/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Evaluators").click()
    rows = page.get_by_test_id("evaluator-row")
    expect(rows).to_have_count(5)
    expect(page.locator('tr[data-name="not_empty"]')).to_contain_text("default")
    for _ in range(20):  # ingest batches are scored asynchronously
        if page.locator('tr[data-name="not_empty"] [data-testid="score-count"]').count():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(page.locator('tr[data-name="not_empty"] [data-testid="score-count"]')).to_have_text("4")
    expect(page.locator('tr[data-name="not_empty"] [data-testid="pass-rate"]')).to_contain_text("100.0%")
    if SCREENSHOTS:
        page.set_viewport_size({"width": 1440, "height": 900})
        page.screenshot(path=f"{SCREENSHOTS}/evaluators_list.png", full_page=True)

    # A new regex evaluator: choosing the kind swaps in its example config and help.
    page.get_by_test_id("new-evaluator").click()
    page.select_option("#id_kind", "grounding")
    expect(page.get_by_test_id("kind-help")).to_contain_text("min_share")
    page.select_option("#id_kind", "regex")
    expect(page.get_by_test_id("config")).to_have_value(re.compile("must_not_match"))
    page.fill("#id_name", "no_ai_disclaimer")
    page.get_by_test_id("config").fill(json.dumps({"pattern": "as an AI", "mode": "must_not_match", "flags": "i"}))

    # A broken pattern is named inline, then the preview scores the recent traces without saving.
    page.get_by_test_id("config").fill(json.dumps({"pattern": "(as an AI", "mode": "must_not_match"}))
    page.get_by_test_id("preview-button").click()
    expect(page.get_by_test_id("config-error")).to_contain_text("pattern: is not a valid regular expression")
    page.get_by_test_id("config").fill(json.dumps({"pattern": "as an AI", "mode": "must_not_match", "flags": "i"}))
    page.get_by_test_id("preview-button").click()
    preview = page.get_by_test_id("preview-row")
    expect(preview).to_have_count(4)
    expect(preview.filter(has_text="fail")).to_have_count(1)
    expect(preview.filter(has_text="fail")).to_contain_text("the forbidden pattern")
    expect(page.get_by_test_id("preview")).to_contain_text("3 pass")
    assert not Evaluator.objects.filter(project=project, name="no_ai_disclaimer").exists()
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/evaluator_create.png", full_page=True)

    page.get_by_test_id("save").click()
    expect(page).to_have_url(re.compile(rf"/p/{project.slug}/evaluators/$"))
    new_row = page.locator('tr[data-name="no_ai_disclaimer"]')
    expect(new_row).to_contain_text("Regex")
    expect(new_row).to_contain_text("no scores yet")

    # Backfill the last 24 h with a real worker; the progress polls until it is done.
    new_row.get_by_role("link", name="no_ai_disclaimer").click()
    page.get_by_test_id("backfill-start").click()
    status = page.get_by_test_id("backfill-status")
    expect(status).to_have_attribute("data-status", "done", timeout=20_000)
    expect(status).to_contain_text("4 / 4 traces (100%)")
    expect(page.get_by_test_id("backfill-row")).to_have_count(1)
    expect(page.get_by_test_id("backfill-row")).to_contain_text("Done")
    assert Backfill.objects.get(evaluator__name="no_ai_disclaimer").scored == 4
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/evaluator_edit.png", full_page=True)

    # Back on the list, the new evaluator carries the backfilled scores.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Evaluators").click()
    expect(page.locator('tr[data-name="no_ai_disclaimer"] [data-testid="score-count"]')).to_have_text("4")
    expect(page.locator('tr[data-name="no_ai_disclaimer"] [data-testid="pass-rate"]')).to_contain_text("75.0%")


def test_pin_a_judge_with_a_stored_key_that_is_never_shown(page, login, alice, project, settings):
    settings.JUDGE_ALLOWED_HOSTS = ["api.openai.com"]  # never called: saving it needs no DNS lookup
    login(alice)
    page.goto(f"/p/{project.slug}/evaluators/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Judges").click()
    expect(page.get_by_test_id("judge-row")).to_have_count(0)
    page.fill("#id_name", "gpt-4o judge")
    page.fill("#id_base_url", "https://api.openai.com/v1")
    page.fill("#id_model", "gpt-4o-2024-08-06")
    page.fill("#id_api_key", "sk-browser-secret-123")
    page.get_by_role("button", name="Add judge").click()
    row = page.get_by_test_id("judge-row")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("key-source")).to_have_text("stored (encrypted)")
    expect(page.locator("#id_api_key")).to_have_value("")
    assert "sk-browser-secret-123" not in page.content()
    assert Judge.objects.get(project=project).api_key_encrypted
    if SCREENSHOTS:
        page.set_viewport_size({"width": 1440, "height": 900})
        page.screenshot(path=f"{SCREENSHOTS}/judges.png", full_page=True)
