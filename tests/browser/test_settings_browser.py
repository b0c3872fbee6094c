import re

import pytest
from playwright.sync_api import expect

from apps.projects.models import ApiKey

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_log_in_create_an_api_key_and_see_it_once(page, login, alice, project):
    login(alice)
    page.goto(f"/p/{project.slug}/settings/")
    expect(page.get_by_role("heading", name=re.compile(project.name))).to_be_visible()

    page.fill("#id_key_name", "production ingest")
    page.click("text=Create API key")
    secret = page.get_by_test_id("new-key-secret")
    expect(secret).to_be_visible()
    plaintext = secret.inner_text().strip()
    key = ApiKey.objects.get(project=project, name="production ingest")
    assert plaintext.startswith(key.prefix) and len(plaintext) > 30
    expect(page.get_by_test_id("key-row").filter(has_text="production ingest")).to_have_count(1)

    page.reload()
    expect(page.get_by_test_id("new-key-secret")).to_have_count(0)
    assert plaintext not in page.content()
    expect(page.get_by_test_id("key-row").filter(has_text="production ingest")).to_contain_text(key.prefix)


def test_wrong_password_shows_an_error(page, alice, live_server):
    page.goto("/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "not-the-password")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")


def test_adding_an_unknown_member_shows_the_error_inline(page, login, alice, project):
    login(alice)
    page.goto(f"/p/{project.slug}/settings/")
    page.wait_for_function("window.htmx !== undefined")
    page.fill("#id_member_username", "nobody-here")
    page.click("text=Add or change member")
    expect(page.locator("#members").get_by_role("alert")).to_contain_text("No user named 'nobody-here'")
    assert page.url.endswith(f"/p/{project.slug}/settings/")  # swapped in place by htmx, no navigation
