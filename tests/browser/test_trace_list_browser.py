"""The trace list at 1440 px: input and output get at least 40 characters each, the whole text on hover, and rows
keep one height with or without failure badges; a wrong filter shows a message instead of an empty table."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from apps.scores.services import ScoreInput, scores_upsert
from tests.traces.factories import BASE_TIME, simple_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("SIGHTLINE_SCREENSHOTS", "")
QUESTION = "Could you explain, step by step, how the refund policy applies to an annual plan cancelled mid-term? " * 3
ANSWER = "Annual plans cancelled mid-term are refunded pro rata for the unused full months, minus any discount. " * 3


def _fail(project, trace, *names: str) -> None:
    scores_upsert(
        project=project,
        items=[ScoreInput(trace_pk=trace.id, name=n, source="programmatic", value=1.0, passed=False) for n in names],
    )


def test_input_and_output_have_room_and_rows_keep_one_height(page, login, alice, project):
    plain = simple_trace(project, name="plain", input_text=QUESTION, output_text=ANSWER, at=BASE_TIME)
    badged = simple_trace(
        project, name="badged", input_text=QUESTION, output_text=ANSWER, at=BASE_TIME + timedelta(minutes=1)
    )
    _fail(project, badged, "refusal", "grounding", "toxicity", "pii_leak", "citation_format")
    login(alice)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"/p/{project.slug}/traces/")
    rows = page.get_by_test_id("trace-row")
    expect(rows).to_have_count(2)
    expect(rows.first.get_by_test_id("failing")).to_contain_text("refusal")
    # The width of 40 characters of this text in the cell's own font.
    char_px = page.evaluate(
        """() => {
            const cell = document.querySelector('[data-testid=input]');
            const probe = document.createElement('span');
            probe.style.font = getComputedStyle(cell).font;
            probe.style.whiteSpace = 'nowrap';
            probe.textContent = 'Could you explain, step by step, how the';  // 40 characters
            document.body.appendChild(probe);
            const width = probe.getBoundingClientRect().width;
            probe.remove();
            return width;
        }"""
    )
    for row in (rows.nth(0), rows.nth(1)):
        for test_id in ("input", "output"):
            cell = row.get_by_test_id(test_id)
            padding = cell.evaluate(
                "c => parseFloat(getComputedStyle(c).paddingLeft) + parseFloat(getComputedStyle(c).paddingRight)"
            )
            assert cell.bounding_box()["width"] - padding >= char_px, (test_id, cell.bounding_box(), char_px)
    heights = {round(rows.nth(i).bounding_box()["height"]) for i in range(2)}
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/trace_list_1440.png", full_page=True)
    assert len(heights) == 1, heights  # the badged row is as high as the plain one
    # The whole text on hover; the badges that do not fit are all named on hover.
    expect(rows.first.get_by_test_id("input")).to_have_attribute("title", QUESTION)
    expect(rows.first.get_by_test_id("output")).to_have_attribute("title", ANSWER)
    expect(rows.first.get_by_test_id("failing")).to_have_attribute(
        "title", "failing: citation_format, grounding, pii_leak, refusal, toxicity"
    )
    assert plain.trace_id  # listed second
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/trace_list_1440.png", full_page=True)


def test_since_after_until_and_an_unknown_metric_show_a_message(page, login, alice, project):
    simple_trace(project, name="only one")
    login(alice)
    page.goto(f"/p/{project.slug}/traces/?since=2025-03-02&until=2025-03-01")
    expect(page.get_by_test_id("filter-error")).to_contain_text("until")
    expect(page.get_by_test_id("filter-error")).to_contain_text("after since")
    expect(page.get_by_test_id("trace-row")).to_have_count(0)
    page.goto(f"/p/{project.slug}/traces/")
    expect(page.get_by_test_id("trace-row")).to_have_count(1)
    page.fill("#f-score", "no_such_metric:failed")
    page.press("#f-score", "Enter")
    expect(page.get_by_test_id("filter-error")).to_contain_text("no score named 'no_such_metric'")
    expect(page.get_by_test_id("empty-state")).to_have_count(0)  # not "No traces match these filters."
