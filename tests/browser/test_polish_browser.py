"""The project switcher keeps the page; error pages and the favicon load under the strict CSP."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.projects.services import project_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_switching_projects_keeps_the_page(page, login, alice, project):
    other = project_create(name="Zeta bot", owner=alice)
    login(alice)
    page.goto(f"/p/{project.slug}/evaluators/")
    page.select_option("#project-switcher", label="Zeta bot")
    expect(page).to_have_url(re.compile(rf"/p/{other.slug}/evaluators/$"))
    expect(page.locator("#project-switcher")).to_have_value(f"/p/{other.slug}/evaluators/")
    expect(page.get_by_role("link", name="API docs")).to_have_attribute("href", "/api/docs/")


def test_a_missing_page_is_styled(page, login, alice, project):
    login(alice)
    response = page.goto("/p/no-such-project/traces/")
    assert response is not None and response.status == 404
    expect(page.get_by_test_id("error-page")).to_contain_text("Page not found")
    assert page.evaluate("getComputedStyle(document.querySelector('.error-code')).fontSize") == "44px"
    icon = page.request.get("/static/sightline/favicon.svg")
    assert icon.ok and "<svg" in icon.text()
