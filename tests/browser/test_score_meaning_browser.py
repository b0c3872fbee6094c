"""What a score means, read from its one declaration: the evaluators page, the trace page and the score filter
agree on refusal's direction, and an edited evaluator's row keeps the previous version's figures beside the new."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.evaluators.models import Evaluator
from apps.evaluators.services import evaluations_run
from tests.traces.factories import simple_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("SIGHTLINE_SCREENSHOTS", "")  # a directory, to look at the layout
REFUSED = "I'm sorry, but I can't help with that request."


def _score(project, traces) -> None:
    evaluations_run(project_id=project.id, trace_pks=[t.id for t in traces])


def test_refusal_reads_the_same_way_everywhere_and_an_edit_keeps_both_versions(page, login, alice, project):
    now = timezone.now()
    # 1 refusal in 25 answers: a 96 % pass rate, and a mean refusal value of 0.04 that must not sit beside it.
    refused = simple_trace(project, at=now - timedelta(minutes=50), output_text=REFUSED)
    answered = [
        simple_trace(project, at=now - timedelta(minutes=49, seconds=i), output_text=f"Your order {i} ships tomorrow.")
        for i in range(24)
    ]
    _score(project, [refused, *answered])
    first = Evaluator.objects.get(project=project, name="refusal").version
    login(alice)

    # The evaluators page: one figure for refusal (its pass rate), and what a value means under the name.
    page.goto(f"/p/{project.slug}/evaluators/")
    row = page.locator('tr[data-name="refusal"]')
    expect(row.get_by_test_id("pass-rate")).to_contain_text("96.0%")
    expect(row.get_by_test_id("value-meaning")).to_contain_text("1 = refused (fail)")
    expect(row.get_by_test_id("value-meaning")).to_contain_text("lower is better")
    expect(row.get_by_test_id("mean")).to_have_text("–")  # not 0.040 beside 96 %
    expect(row).not_to_contain_text("0.040")
    badge = row.get_by_test_id("current-version").get_by_test_id("version-label")
    expect(badge).to_have_text("v1")
    expect(badge).to_have_attribute("title", f"version {first}")

    # An admin edits the evaluator: a new version, which has scored nothing yet.
    row.get_by_role("link", name="refusal").click()
    config = {"opening_sentences": 2, "short_answer_words": 60, "partial_min_words": 10}
    page.get_by_test_id("config").fill(json.dumps(config))
    page.get_by_test_id("save").click()
    expect(page).to_have_url(re.compile(r"/evaluators/$"))
    second = Evaluator.objects.get(project=project, name="refusal").version
    assert second != first

    # The row is not blank: the new version (no scores yet) above the previous one's figures.
    row = page.locator('tr[data-name="refusal"]')
    expect(row.get_by_test_id("version-change")).to_contain_text("v1 → v2")
    current = row.get_by_test_id("version-figures")
    expect(current.get_by_test_id("version-label")).to_have_text("v2")
    expect(current.get_by_test_id("version-label")).to_have_attribute("title", f"version {second}")
    expect(row.get_by_test_id("pass-rate")).to_contain_text("no scores yet")
    previous = row.get_by_test_id("previous-version-figures")
    expect(previous.get_by_test_id("version-label")).to_have_text("v1")
    expect(previous.get_by_test_id("version-label")).to_have_attribute("title", f"version {first}")
    expect(row.get_by_test_id("previous-score-count")).to_have_text("25")
    expect(row.get_by_test_id("previous-pass-rate")).to_contain_text("96.0%")

    # New traffic is scored by the new version: both versions' figures now.
    _score(project, [simple_trace(project, at=now - timedelta(minutes=5), output_text="Refunds take 5 days.")])
    page.reload()
    row = page.locator('tr[data-name="refusal"]')
    expect(row.get_by_test_id("score-count")).to_have_text("1")
    expect(row.get_by_test_id("pass-rate")).to_contain_text("100.0%")
    expect(row.get_by_test_id("previous-pass-rate")).to_contain_text("96.0%")
    if SCREENSHOTS:
        page.set_viewport_size({"width": 1440, "height": 900})
        page.screenshot(path=f"{SCREENSHOTS}/evaluators_two_versions.png", full_page=True)

    # The trace page: the refusal's value says what it means and which way is better; the version is short.
    page.goto(f"/p/{project.slug}/traces/{refused.trace_id}/")
    score = page.locator('[data-testid="score-row"][data-name="refusal"]')
    expect(score.get_by_test_id("value-text")).to_have_text("= refused (fail)")
    expect(score.get_by_test_id("direction")).to_have_attribute("title", "lower is better")
    expect(score.get_by_test_id("version-label")).to_have_text("v1")
    expect(score.get_by_test_id("version-label")).to_have_attribute("title", f"version {first}")
    expect(score).not_to_contain_text(first)  # the full hash only on hover
    expect(page.get_by_test_id("failing-score").filter(has_text="refusal")).to_contain_text("refused (fail)")
    page.goto(f"/p/{project.slug}/traces/{answered[0].trace_id}/")
    answered_score = page.locator('[data-testid="score-row"][data-name="refusal"]')
    expect(answered_score.get_by_test_id("value-text")).to_have_text("= answered (pass)")

    # The score filter: the condition is explained with the same declaration, and suggestions carry it.
    page.goto(f"/p/{project.slug}/traces/?score=refusal%3Afailed")
    expect(page.get_by_test_id("score-filter-meaning")).to_contain_text("1 = refused (fail)")
    expect(page.get_by_test_id("trace-row")).to_have_count(1)
    page.locator("#f-score").focus()
    option = page.locator('#score-options option[value="refusal:failed"]')
    expect(option).to_have_count(1)
    expect(option).to_have_attribute("label", re.compile(r"1 = refused \(fail\).*lower is better"))
