"""The trace browser in a real browser: filtering with htmx, the waterfall, and span panels."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.traces.factories import BASE_TIME, rag_trace, simple_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("SIGHTLINE_SCREENSHOTS", "")  # a directory, to look at the layout


def test_filter_the_list_open_a_trace_and_inspect_spans(page, login, alice, project):
    simple_trace(project, name="greeting", route="chat.greet", at=BASE_TIME)
    simple_trace(project, name="smalltalk", route="chat.greet", at=BASE_TIME + timedelta(minutes=1))
    trace = rag_trace(project, at=BASE_TIME + timedelta(minutes=2))
    login(alice)

    page.goto(f"/p/{project.slug}/traces/")
    rows = page.get_by_test_id("trace-row")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("answer support ticket")
    if SCREENSHOTS:
        page.set_viewport_size({"width": 1440, "height": 900})
        page.screenshot(path=f"{SCREENSHOTS}/trace_list.png", full_page=True)

    # The route filter swaps in the matching rows without a reload, and the URL records it.
    page.evaluate("window.__sameDocument = true")
    page.select_option("#f-route", "chat.greet")
    expect(rows).to_have_count(2)
    expect(page.locator("#trace-rows")).not_to_contain_text("answer support ticket")
    expect(rows.first).to_contain_text("smalltalk")
    expect(page).to_have_url(re.compile(r"[?&]route=chat\.greet(&|$)"))
    assert "since=" not in page.url  # empty filters stay out of the URL
    assert page.evaluate("window.__sameDocument") is True

    page.select_option("#f-route", "support.answer")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link", name="answer support ticket").click()

    # The trace page: header and a waterfall of five spans, the root's panel open.
    expect(page.get_by_test_id("trace-id")).to_have_text(trace.trace_id)
    wf_rows = page.get_by_test_id("wf-row")
    expect(wf_rows).to_have_count(5)
    expect(wf_rows.first).to_contain_text("support-agent")
    expect(page.get_by_test_id("span-panel")).to_contain_text("support-agent")

    # Clicking the first LLM span shows its conversation as chat messages.
    wf_rows.filter(has_text="chat gpt-4o").first.click()
    panel = page.get_by_test_id("span-panel")
    messages = panel.get_by_test_id("msg")
    expect(messages).to_have_count(2)
    expect(messages.first).to_contain_text("How do I reset my password? <b>urgent</b>")  # shown as text, not HTML
    expect(panel.locator(".msg.system")).to_contain_text("You are Acme's support assistant.")
    expect(messages.nth(1)).to_contain_text("lookup_account")
    expect(messages.nth(1)).to_contain_text('"email": "a@acme.test"')
    expect(wf_rows.filter(has_text="chat gpt-4o").first).to_have_class(re.compile(r"\bselected\b"))
    expect(page).to_have_url(re.compile(r"/spans/[0-9a-f]{16}/$"))

    # The retrieval span lists its documents.
    wf_rows.filter(has_text="vector-search").click()
    docs = page.get_by_test_id("span-panel").get_by_test_id("document")
    expect(docs).to_have_count(2)
    expect(docs.first).to_contain_text("kb-17")
    expect(docs.first).to_contain_text("To reset a password, open Settings → Security.")
    if SCREENSHOTS:
        page.get_by_test_id("wf-row").filter(has_text="chat gpt-4o").first.click()
        expect(page.get_by_test_id("span-panel").get_by_test_id("msg")).to_have_count(2)
        page.screenshot(path=f"{SCREENSHOTS}/trace_detail.png", full_page=True)


def test_bad_filter_shows_an_inline_error(page, login, alice, project):
    simple_trace(project, name="greeting")
    login(alice)
    page.goto(f"/p/{project.slug}/traces/")
    page.fill("#f-since", "yesterday")
    page.press("#f-since", "Enter")
    expect(page.get_by_test_id("filter-error")).to_contain_text("since")
    expect(page.get_by_test_id("trace-row")).to_have_count(0)
    page.fill("#f-since", "2025-01-01")
    page.press("#f-since", "Enter")
    expect(page.get_by_test_id("trace-row")).to_have_count(1)
