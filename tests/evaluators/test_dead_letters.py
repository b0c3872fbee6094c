"""The dead-letters page: failed ingest batches and judge requests, retried or discarded by admins only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.evaluators.models import Evaluator
from apps.judges.models import JudgeRequest
from apps.traces.models import IngestBatch
from tests.traces.factories import simple_trace

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def dead(project):
    """One failed ingest batch and one failed judge request."""
    trace = simple_trace(project)
    batch = IngestBatch.objects.get(project=project)
    IngestBatch.objects.filter(id=batch.id).update(state="failed", attempts=5, error="RuntimeError: boom")
    evaluator = Evaluator.objects.get(project=project, name="not_empty")
    request = JudgeRequest.objects.create(
        project=project,
        evaluator=evaluator,
        evaluator_version="v1",
        trace=trace,
        status="failed",
        attempts=8,
        error="judge unavailable (attempt 8): 503",
    )
    return batch, request


def action_url(project, kind: str, row_id: int) -> str:
    return reverse("evaluators:dead-letter-action", args=[project.slug, kind, row_id])


def test_the_page_lists_both_kinds_with_error_and_attempts(client, alice, project, dead):
    client.force_login(alice)
    body = client.get(reverse("evaluators:dead-letters", args=[project.slug])).content.decode()
    assert body.count('data-testid="dead-letter-row"') == 2
    assert "RuntimeError: boom" in body and "judge unavailable (attempt 8): 503" in body


def test_retry_puts_a_judge_request_back_to_pending_and_discard_is_conditional(client, alice, project, dead):
    batch, request = dead
    client.force_login(alice)
    response = client.post(action_url(project, "judge", request.id), {"action": "retry"})
    assert response.status_code == 302  # post/redirect/get for a plain form
    request.refresh_from_db()
    assert (request.status, request.attempts, request.error) == ("pending", 0, "")
    response = client.post(action_url(project, "batch", batch.id), {"action": "discard"}, **HTMX)
    assert response.status_code == 200 and "discarded" in response.content.decode()
    assert IngestBatch.objects.get(id=batch.id).state == "discarded"
    again = client.post(action_url(project, "batch", batch.id), {"action": "discard"}, **HTMX)
    assert "no longer failed" in again.content.decode()  # a double click changes nothing


def test_a_bad_action_is_a_400_naming_the_field(client, alice, project, dead):
    batch, _ = dead
    client.force_login(alice)
    response = client.post(action_url(project, "batch", batch.id), {"action": "explode"})
    assert response.status_code == 400 and "action" in response.content.decode()
    response = client.post(action_url(project, "span", batch.id), {"action": "retry"})
    assert response.status_code == 400 and "kind" in response.content.decode()


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_viewers_and_outsiders_are_refused(client, project, dead, who, request):
    batch, _ = dead
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("evaluators:dead-letters", args=[project.slug])).status_code in {403, 404}
    assert client.post(action_url(project, "batch", batch.id), {"action": "retry"}).status_code in {403, 404}
    assert IngestBatch.objects.get(id=batch.id).state == "failed"
