import pytest
from playwright.sync_api import expect

from tests.traces.factories import rag_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_settings_show_storage_per_project_and_save_retention(page, login, alice, project):
    rag_trace(project)
    login(alice)
    page.goto(f"/p/{project.slug}/settings/")
    page.wait_for_function("window.htmx !== undefined")
    storage = page.get_by_test_id("storage")
    expect(storage.get_by_test_id("storage-row")).to_have_count(3)
    spans_row = storage.get_by_test_id("storage-row").filter(has_text="Spans")
    expect(spans_row).to_contain_text("KB")  # the project's spans take kilobytes, not nothing
    expect(page.locator("#retention")).to_contain_text("TABLESAMPLE")

    page.fill("#id_traces_days", "7")
    page.fill("#id_scores_days", "5000")  # past the 3,650-day limit (the server checks it)
    page.click("text=Save retention")
    expect(page.locator("#retention").get_by_role("alert")).to_contain_text("Scores (days)")
    project.refresh_from_db()
    assert project.retention_traces_days == 30  # nothing saved from an invalid form

    page.fill("#id_scores_days", "60")
    page.click("text=Save retention")
    expect(page.locator("#retention").get_by_role("status")).to_contain_text("Retention saved")
    assert page.url.endswith(f"/p/{project.slug}/settings/")  # swapped in place by htmx
    project.refresh_from_db()
    assert (project.retention_traces_days, project.retention_scores_days) == (7, 60)
