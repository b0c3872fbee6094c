"""Sessions and search in a real browser: from a trace to its session's timeline, to a user, and the search box."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.scores.services import ScoreInput, scores_upsert
from apps.scores.sessions import session_summaries_drain
from tests.traces.factories import simple_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("SIGHTLINE_SCREENSHOTS", "")  # a directory, to look at the layout


def test_session_page_from_a_trace_then_the_user(page, login, alice, project):
    now = timezone.now()
    first = simple_trace(
        project,
        name="support chat",
        session_id="sess-42",
        user_id="ann@example.test",
        input_text="My order never arrived.",
        output_text="I am sorry; I have opened a claim.",
        at=now - timedelta(minutes=6),
    )
    second = simple_trace(
        project,
        name="support chat",
        session_id="sess-42",
        user_id="ann@example.test",
        input_text="How long will the claim take?",
        output_text="I cannot say.",
        at=now - timedelta(minutes=3),
    )
    scores_upsert(
        project=project,
        items=[ScoreInput(trace_pk=second.id, name="helpfulness", source="judge", passed=False, value=0.1)],
    )
    session_summaries_drain()  # what the beat job does every 15 s: the sessions list reads the summaries
    login(alice)

    # The trace page links its session; the session opens as one conversation in time order.
    page.goto(f"/p/{project.slug}/traces/{first.trace_id}/")
    page.get_by_test_id("trace-session-link").click()
    expect(page).to_have_url(re.compile(rf"/p/{project.slug}/sessions/sess-42/#turn-{first.trace_id}$"))
    turns = page.get_by_test_id("session-turn")
    expect(turns).to_have_count(2)
    expect(turns.first).to_contain_text("My order never arrived.")
    expect(turns.first).to_contain_text("I have opened a claim.")
    expect(turns.nth(1)).to_contain_text("How long will the claim take?")
    expect(turns.nth(1).get_by_test_id("turn-score")).to_have_text("helpfulness 0.100")
    expect(turns.nth(1).get_by_test_id("turn-score")).to_have_class(re.compile(r"\berror\b"))
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/session.png", full_page=True)

    # Each turn links to its trace.
    turns.nth(1).get_by_test_id("turn-trace-link").click()
    expect(page).to_have_url(re.compile(rf"/traces/{second.trace_id}/$"))

    # The Sessions nav item lists it with its figures; its user opens with a failure rate.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    row = page.get_by_test_id("session-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("sess-42")
    expect(row.get_by_test_id("session-failing")).to_have_text("1")
    expect(row.get_by_test_id("session-errors")).to_have_text("0")
    row.get_by_role("link", name="ann@example.test").click()
    expect(page.get_by_test_id("user-failure-rate")).to_contain_text("50 %")
    expect(page.get_by_test_id("user-sessions")).to_have_text("1")


def test_search_box_filters_by_input_and_output(page, login, alice, project):
    now = timezone.now()
    simple_trace(project, name="chat", input_text="Reset my password", output_text="Use Settings.", at=now)
    simple_trace(
        project,
        name="chat",
        input_text="Where is my money?",
        output_text="Refunds take five days.",
        at=now - timedelta(minutes=1),
    )
    login(alice)
    page.goto(f"/p/{project.slug}/traces/")
    rows = page.get_by_test_id("trace-row")
    expect(rows).to_have_count(2)

    search = page.locator("#f-q")
    search.press_sequentially("refunds")  # only in an output
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Where is my money?")
    expect(page).to_have_url(re.compile(r"[?&]q=refunds(&|$)"))

    search.fill("")
    search.press_sequentially("PASSWORD")  # only in an input, another case
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Reset my password")
