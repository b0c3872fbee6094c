"""Hostile trace content stays text, the CSP holds on every page, and logins are throttled (a real browser)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.projects.services import project_create
from tests.projects.factories import TEST_PASSWORD
from tests.traces.factories import simple_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CANARY = "/hx-canary-should-never-be-requested/"
HOSTILE = (
    "<script>alert(1)</script>\n"
    f'<div hx-get="{CANARY}" hx-trigger="load" hx-swap="outerHTML">htmx probe</div>\n'
    '<img src="/img-canary.png" onerror="alert(3)">\n'
    "[click me](javascript:alert(2))"
)


def watch(page) -> tuple[list[str], list[str]]:
    """Record dialogs (alert/confirm) and requested URLs of the page."""
    dialogs: list[str] = []
    requests: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    return dialogs, requests


def test_hostile_trace_content_is_shown_as_text(page, login, alice, project):
    trace = simple_trace(project, name="<b>bold</b> probe", input_text=HOSTILE, output_text=HOSTILE)
    login(alice)
    dialogs, requests = watch(page)

    page.goto(f"/p/{project.slug}/traces/")
    row = page.get_by_test_id("trace-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("<script>alert(1)</script>")
    expect(row).to_contain_text("<b>bold</b> probe")

    page.goto(f"/p/{project.slug}/traces/{trace.trace_id}/")
    page.get_by_test_id("wf-row").first.click()  # open the span panel through htmx
    content = page.get_by_test_id("span-content")
    expect(content).to_contain_text("<script>alert(1)</script>")
    expect(content).to_contain_text(f'<div hx-get="{CANARY}" hx-trigger="load"')
    expect(content).to_contain_text("[click me](javascript:alert(2))")
    expect(content.locator("[hx-get]")).to_have_count(0)  # no element was made of the text
    expect(content.locator("script, img, a[href^='javascript']")).to_have_count(0)
    assert content.get_attribute("hx-disable") is not None
    page.wait_for_load_state("networkidle")

    assert dialogs == []
    assert not [url for url in requests if CANARY in url or "img-canary" in url]


def test_pages_send_a_strict_csp_and_run_without_violations(page, login, alice, project):
    simple_trace(project)
    login(alice)
    response = page.goto(f"/p/{project.slug}/traces/")
    policy = response.headers["content-security-policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]  # no inline scripts, no eval
    # The project switcher (formerly an inline onchange handler) still navigates, via static/app.js,
    # to the same section of the chosen project.
    other = project_create(name="Other bot", owner=alice)
    page.goto(f"/p/{project.slug}/judges/")
    page.select_option("#project-switcher", label=other.name)
    expect(page).to_have_url(f"{page.url.split('/p/')[0]}/p/{other.slug}/judges/")
    for path in (f"/p/{project.slug}/evaluators/", f"/p/{project.slug}/judges/", f"/p/{project.slug}/settings/"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    # The page fixture fails the test on any CSP violation reported in the console.


def test_swagger_ui_works_under_the_csp(page):
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Sightline API")
    expect(page.locator(".opblock").first).to_be_visible()


def test_login_is_locked_after_repeated_wrong_passwords(page, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.goto("/login/")
        page.fill("#id_username", "alice")
        page.fill("#id_password", "wrong-password")
        page.click("button[type=submit]")
    page.goto("/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", TEST_PASSWORD)  # the right password, too late
    page.click("button[type=submit]")
    expect(page.get_by_test_id("locked-out")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/"))  # not logged in
