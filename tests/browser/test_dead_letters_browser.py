"""Dead letters in a real browser: an admin sees a failed batch and retries it; a viewer is refused."""

import time

import pytest
from playwright.sync_api import expect

from apps.traces.models import IngestBatch
from tests.traces.factories import simple_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def failed_batch(project) -> IngestBatch:
    simple_trace(project, output_text="a stored answer")
    batch = IngestBatch.objects.get(project=project)
    IngestBatch.objects.filter(id=batch.id).update(state="failed", attempts=5, error="RuntimeError: consumer broke")
    return batch


def test_an_admin_sees_a_failed_batch_and_retries_it(page, login, alice, project, celery_worker):
    batch = failed_batch(project)
    login(alice)
    page.goto(f"/p/{project.slug}/traces/")
    page.get_by_role("link", name="Dead letters").click()
    row = page.get_by_test_id("dead-letter-row").filter(has_text=f"#{batch.id}")
    expect(row).to_contain_text("RuntimeError: consumer broke")
    expect(row).to_contain_text("5")
    row.get_by_test_id("dead-letter-retry").click()
    expect(page.get_by_test_id("dead-letter-message")).to_contain_text("queued again")
    expect(page.get_by_test_id("dead-letter-row")).to_have_count(0)
    deadline = time.monotonic() + 30  # the real worker runs the batch again
    while IngestBatch.objects.get(id=batch.id).state != "done" and time.monotonic() < deadline:
        time.sleep(0.2)
    batch.refresh_from_db()
    assert (batch.state, batch.attempts, batch.error) == ("done", 1, "")
    page.reload()
    expect(page.get_by_test_id("dead-batches")).to_contain_text("No failed ingest batches.")


def test_a_viewer_neither_sees_nor_reaches_the_dead_letters(page, login, bob, project):
    batch = failed_batch(project)
    login(bob)
    page.goto(f"/p/{project.slug}/traces/")
    expect(page.get_by_role("link", name="Dead letters")).to_have_count(0)
    response = page.goto(f"/p/{project.slug}/dead-letters/")
    assert response.status in {403, 404}
    response = page.request.post(f"/p/{project.slug}/dead-letters/batch/{batch.id}/", form={"action": "retry"})
    assert response.status in {403, 404}
    assert IngestBatch.objects.get(id=batch.id).state == "failed"
