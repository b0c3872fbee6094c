"""The judge page: who may see and change it, the edit form's errors, and its htmx fragments."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.judges.models import CalibrationRun, JudgeVersion
from apps.judges.services import judge_create

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def judge(project, settings):
    settings.JUDGE_ALLOWED_HOSTS = ["x.test"]
    return judge_create(project=project, name="grader", base_url="https://x.test/v1", model="m-2024-01-01")


def url(judge, name: str = "detail", **kw) -> str:
    return reverse(f"judges:{name}", kwargs={"project_slug": judge.project.slug, "judge_id": judge.id, **kw})


def edit_data(**overrides) -> dict[str, str]:
    data = {
        "name": "grader",
        "base_url": "https://x.test/v1",
        "model": "m-2024-01-01",
        "rubric_criteria": "Pass what a reviewer would accept.",
        "scale": "binary",
        "pass_threshold": "",
        "temperature": "0",
        "max_tokens": "400",
        "timeout_s": "30",
        "regression_margin": "0.15",
    }
    return {**data, **overrides}


def test_carol_gets_404_and_bob_sees_but_cannot_edit(client, judge, bob, carol):
    client.force_login(carol)
    assert client.get(url(judge)).status_code == 404
    client.force_login(bob)
    page = client.get(url(judge))
    assert page.status_code == 200 and b"Agreement with human labels" in page.content
    assert b'data-testid="edit-form"' not in page.content
    assert client.post(url(judge, "edit"), edit_data(model="other")).status_code == 403
    assert JudgeVersion.objects.filter(judge=judge).count() == 1


def test_edit_makes_a_version_and_a_bad_field_is_named_inline(client, judge, alice):
    client.force_login(alice)
    bad = client.post(url(judge, "edit"), edit_data(scale="binary", pass_threshold="3"))
    assert bad.status_code == 400 and b'data-field="pass_threshold"' in bad.content
    ok = client.post(url(judge, "edit"), edit_data(model="m-2025-01-01"))
    assert ok.status_code == 302
    assert list(JudgeVersion.objects.filter(judge=judge).order_by("number").values_list("number", "status")) == [
        (1, "retired"),
        (2, "current"),
    ]


def test_calibrate_fragment_polls_until_the_run_finishes(client, judge, alice, django_capture_on_commit_callbacks):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=False):
        fragment = client.post(url(judge, "calibrate"), **HTMX)
    assert fragment.status_code == 200 and b'hx-trigger="every 2s"' in fragment.content
    run = CalibrationRun.objects.get(judge_version__judge=judge, trigger="manual")
    assert client.get(url(judge, "calibration-status", run_id=run.id)).status_code == 200
    CalibrationRun.objects.filter(id=run.id).update(status="done")
    assert client.get(url(judge, "calibration-status", run_id=run.id)).status_code == 286
