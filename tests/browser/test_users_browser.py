"""Settings → Members in a browser: create a user, give them a role, and have them log in."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.projects.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_creates_a_user_changes_roles_and_the_user_logs_in(page, login, alice, project, browser, live_server):
    login(alice)
    page.goto(f"/p/{project.slug}/settings/")
    page.wait_for_function("window.htmx !== undefined")
    page.fill("#id_user_username", "hana")
    page.fill("#id_user_email", "hana@example.com")
    page.select_option("#id_user_role", "reviewer")
    page.click("text=Create user")
    expect(page.get_by_test_id("created-user")).to_contain_text("hana")
    password = page.get_by_test_id("created-user-password").inner_text().strip()
    row = page.get_by_test_id("member-row").filter(has_text="hana")
    expect(row.get_by_test_id("member-role")).to_have_value("reviewer")

    # Promote bob (viewer) to admin, in place.
    bob_row = page.locator('[data-testid=member-row][data-username="bob"]')
    bob_row.get_by_test_id("member-role").select_option("admin")
    with page.expect_response(lambda r: "/role/" in r.url and r.status == 200):
        bob_row.get_by_role("button", name="Save role").click()
    expect(page.locator('[data-testid=member-row][data-username="bob"]').get_by_test_id("member-role")).to_have_value(
        "admin"
    )
    assert Membership.objects.get(project=project, user__username="bob").role == "admin"
    assert page.url.endswith(f"/p/{project.slug}/settings/")

    # An invitation link shows once.
    page.select_option("#id_invite_role", "viewer")
    page.click("text=Create invitation link")
    expect(page.get_by_test_id("invitation-link")).to_contain_text("/invite/")
    expect(page.get_by_test_id("invitation-row")).to_have_count(1)

    # The new user logs in with the first password and sees the project.
    other = browser.new_context(base_url=live_server.url)
    hana = other.new_page()
    hana.goto("/login/")
    hana.fill("#id_username", "hana")
    hana.fill("#id_password", password)
    hana.click("button[type=submit]")
    expect(hana.get_by_role("heading", name="Send your first trace")).to_be_visible()
    other.close()
