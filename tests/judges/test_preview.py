"""The judge "Try it" preview runs as a job in a real worker and the page polls its row."""

from __future__ import annotations

import json
import time

import pytest
from django.urls import reverse

from apps.core.htmx import HTMX_STOP_POLLING
from apps.judges.models import JudgePreview
from apps.judges.services import judge_create
from tests.support.openai_server import Reply
from tests.traces.factories import simple_trace

HTMX = {"HTTP_HX_REQUEST": "true"}


def preview_form(judge) -> dict[str, object]:
    from tests.evaluators.test_views import form_data

    return form_data(
        name="helpful", kind="llm_judge", config=json.dumps({"rubric": "helpfulness"}), judge=str(judge.id)
    )


@pytest.mark.django_db(transaction=True)
def test_try_it_grades_in_a_worker_and_polling_stops_with_286_when_done(
    client, alice, project, fake_openai, celery_worker
):
    fake_openai.default = Reply(content='{"score": 4, "confidence": 0.9, "reason": "Direct and useful."}')
    judge = judge_create(project=project, name="local", base_url=fake_openai.base_url, model="test-model-2024-08-06")
    for n in range(5):
        simple_trace(project, output_text=f"answer number {n}")
    client.force_login(alice)
    response = client.post(reverse("evaluators:preview", args=[project.slug]), preview_form(judge), **HTMX)
    assert response.status_code == 200, response.content.decode()[:2000]
    assert "Direct and useful." not in response.content.decode()  # the request only queued the job
    preview = JudgePreview.objects.get(project=project)
    url = reverse("judges:preview-status", args=[project.slug, preview.id])
    deadline = time.monotonic() + 30
    polled = client.get(url, **HTMX)
    while polled.status_code == 200 and time.monotonic() < deadline:
        assert f'hx-get="{url}"' in polled.content.decode()  # still polling
        time.sleep(0.3)
        polled = client.get(url, **HTMX)
    assert polled.status_code == HTMX_STOP_POLLING
    body = polled.content.decode()
    assert body.count('data-testid="judge-preview-row"') == 3 and body.count("Direct and useful.") == 3
    assert 'hx-trigger="every 1s"' not in body
    assert len(fake_openai.requests) == 3
    preview.refresh_from_db()
    assert (preview.status, preview.attempts) == ("done", 1)


@pytest.mark.django_db
def test_only_admins_of_the_project_see_a_preview(client, bob, carol, project, fake_openai):
    judge = judge_create(project=project, name="local", base_url=fake_openai.base_url, model="test-model-2024-08-06")
    preview = JudgePreview.objects.create(project=project, judge=judge, items=[], rubric={})
    url = reverse("judges:preview-status", args=[project.slug, preview.id])
    client.force_login(bob)  # a viewer
    assert client.get(url, **HTMX).status_code in {403, 404}
    client.force_login(carol)  # an outsider
    assert client.get(url, **HTMX).status_code in {403, 404}
