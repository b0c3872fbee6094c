"""The hourly prune of judges' bookkeeping rows: finished old requests and day-old previews go."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.evaluators.models import Evaluator
from apps.judges.models import JudgePreview, JudgeRequest
from apps.judges.services import judge_create, judge_previews_prune, judge_requests_prune
from apps.judges.tasks import bookkeeping_prune_task
from tests.traces.factories import simple_trace

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_of(project):
    """Make a judge request in a status, created some days ago."""
    trace = simple_trace(project)
    evaluator = Evaluator.objects.get(project=project, name="not_empty")
    versions = iter(range(1000))

    def make(status: str, days_old: float) -> int:
        row = JudgeRequest.objects.create(
            project=project, evaluator=evaluator, evaluator_version=f"v{next(versions)}", trace=trace, status=status
        )
        JudgeRequest.objects.filter(id=row.id).update(created_at=timezone.now() - timedelta(days=days_old))
        return row.id

    return make


def test_done_and_discarded_requests_older_than_the_retention_go(settings, request_of):
    settings.BOOKKEEPING_RETENTION_DAYS = 7
    old = [request_of("done", 8), request_of("discarded", 40)]
    kept = [request_of("failed", 40), request_of("done", 6), request_of("pending", 40), request_of("running", 40)]
    assert judge_requests_prune() == 2
    assert set(JudgeRequest.objects.filter(id__in=old + kept).values_list("id", flat=True)) == set(kept)


def test_previews_older_than_a_day_go_whatever_their_status(project, fake_openai):
    judge = judge_create(project=project, name="local", base_url=fake_openai.base_url, model="test-model-2024-08-06")
    rows = {
        status: JudgePreview.objects.create(project=project, judge=judge, items=[], rubric={}, status=status)
        for status in ("done", "failed", "running")
    }
    fresh = JudgePreview.objects.create(project=project, judge=judge, items=[], rubric={}, status="done")
    JudgePreview.objects.filter(id__in=[r.id for r in rows.values()]).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert judge_previews_prune() == 3
    assert list(JudgePreview.objects.filter(project=project).values_list("id", flat=True)) == [fresh.id]


def test_the_task_prunes_both_judges_tables(project, fake_openai, request_of):
    old_request = request_of("done", 30)
    judge = judge_create(project=project, name="local", base_url=fake_openai.base_url, model="test-model-2024-08-06")
    preview = JudgePreview.objects.create(project=project, judge=judge, items=[], rubric={}, status="done")
    JudgePreview.objects.filter(id=preview.id).update(created_at=timezone.now() - timedelta(days=2))
    bookkeeping_prune_task()
    assert not JudgeRequest.objects.filter(id=old_request).exists()
    assert not JudgePreview.objects.filter(id=preview.id).exists()
