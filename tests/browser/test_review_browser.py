"""The review queue in a real browser: two reviewers at once never share an item; labeling by keyboard alone."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from apps.review.models import Label, ReviewItem, RoutingRule
from apps.review.services import RuleSpec, review_route
from tests.projects.factories import TEST_PASSWORD
from tests.review.factories import only_rules, reviewer, traces

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = os.environ.get("SIGHTLINE_SCREENSHOTS", "")  # a directory, to look at the layout


def fill_queue(project, n: int) -> list[ReviewItem]:
    only_rules(project, RuleSpec(kind=RoutingRule.Kind.RANDOM_SAMPLE, sample_percent=100.0))
    review_route(project_id=project.id, trace_pks=[t.pk for t in traces(project, n)])
    return list(ReviewItem.objects.filter(project=project))


def open_queue(browser, live_server, project, user):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    page.goto(f"/p/{project.slug}/review/")
    return context, page, errors


def item_id(page) -> str:
    return page.get_by_test_id("review-panel").get_attribute("data-item-id") or ""


def test_two_reviewers_claiming_at_once_never_get_the_same_item(browser, live_server, project):
    fill_queue(project, 6)
    sessions = [open_queue(browser, live_server, project, reviewer(project, name)) for name in ("ann", "ben")]
    pages = [page for _, page, _ in sessions]
    seen: list[str] = []
    try:
        # Both press Next in the same instant (the requests leave before either answer arrives).
        for page in pages:
            page.evaluate("document.getElementById('next-form').requestSubmit()")
        for _ in range(3):
            for page in pages:
                expect(page.locator("#label-form")).to_be_visible()
                assert item_id(page) and item_id(page) not in seen
            ids = [item_id(page) for page in pages]
            assert ids[0] != ids[1]
            seen += ids
            # Both save a verdict at once; each is handed the next item.
            for page in pages:
                page.evaluate(
                    "document.querySelector('input[name=verdict][value=pass]').checked = true;"
                    "document.getElementById('label-form').requestSubmit()"
                )
            for page, previous in zip(pages, ids, strict=True):
                expect(page.get_by_test_id("review-panel")).not_to_have_attribute("data-item-id", previous)
                expect(page.get_by_test_id("saved")).to_be_visible()
        assert len(set(seen)) == 6
        for page in pages:
            expect(page.get_by_test_id("queue-empty")).to_be_visible()
        assert Label.objects.count() == 6
        assert set(ReviewItem.objects.values_list("status", flat=True)) == {"done"}
    finally:
        for context, _, errors in sessions:
            context.close()
            assert not errors


def test_labeling_with_the_keyboard_alone(page, login, project):
    fill_queue(project, 3)
    ann = reviewer(project, "ann")
    login(ann)
    page.goto(f"/p/{project.slug}/review/")
    page.evaluate("window.stillTheSamePage = true")  # a reload would drop it

    page.keyboard.press("Enter")  # Next
    expect(page.locator("#label-form")).to_be_visible()
    first = item_id(page)
    if SCREENSHOTS:
        page.set_viewport_size({"width": 1440, "height": 900})
        page.screenshot(path=f"{SCREENSHOTS}/review_queue.png", full_page=True)
    page.keyboard.press("f")
    page.keyboard.press("1")
    page.keyboard.press("3")
    page.keyboard.press("3")  # toggles wrong tool off again
    page.keyboard.press("4")
    expect(page.get_by_test_id("verdict-fail")).to_be_checked()
    page.get_by_test_id("notes").click()
    page.keyboard.type("made up a policy; p and f typed here are text")
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")  # save and next
    expect(page.get_by_test_id("saved")).to_be_visible()
    second = item_id(page)
    assert second and second != first
    label = Label.objects.get(item_id=int(first))
    assert (label.verdict, label.categories) == ("fail", ["hallucination", "formatting"])
    assert label.notes == "made up a policy; p and f typed here are text"

    page.keyboard.press("Enter")  # no verdict yet: the browser refuses to send the form
    page.wait_for_timeout(300)
    assert item_id(page) == second and not Label.objects.filter(item_id=int(second)).exists()
    page.keyboard.press("p")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("review-panel")).not_to_have_attribute("data-item-id", second)
    assert Label.objects.get(item_id=int(second)).verdict == "pass"

    third = item_id(page)
    page.keyboard.press("s")  # skip: given back, never offered to ann again
    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    assert ann.id in ReviewItem.objects.get(id=int(third)).skipped_by
    assert page.evaluate("window.stillTheSamePage") is True


def test_annotate_a_trace_from_its_page(page, login, project):
    (trace,) = traces(project, 1)
    login(reviewer(project, "ann"))
    page.goto(f"/p/{project.slug}/traces/{trace.trace_id}/")
    page.get_by_test_id("annotate-open").click()
    page.get_by_test_id("verdict-fail").check()
    page.locator("#annotate input[value=refusal]").check()
    page.get_by_test_id("annotate-save").click()
    expect(page.get_by_test_id("annotate-saved")).to_be_visible()
    expect(page.get_by_test_id("label-row")).to_contain_text("refusal")
    assert Label.objects.get(trace_pk=trace.pk).categories == ["refusal"]
