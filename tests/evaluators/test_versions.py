"""Evaluator versions follow check logic: history, sync after a release, one-click re-score, steps on charts."""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import timedelta
from html import unescape

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.evaluators.checks.refusal import RefusalCheck
from apps.evaluators.models import Backfill, Evaluator, EvaluatorVersion
from apps.evaluators.selectors import config_version
from apps.evaluators.services import (
    evaluations_run,
    evaluator_rescore,
    evaluator_version_sync,
    evaluator_versions_sync,
)
from apps.scores.models import Score
from tests.traces.factories import simple_trace

pytestmark = pytest.mark.django_db


@pytest.fixture
def new_refusal_logic(monkeypatch):
    """A release that changed the refusal check's logic."""
    monkeypatch.setattr(RefusalCheck, "logic_version", "99")


def refusal_of(project) -> Evaluator:
    return Evaluator.objects.get(project=project, name="refusal")


def test_a_check_at_its_initial_logic_keeps_the_version_it_had_before_logic_versions():
    payload = json.dumps({"kind": "not_empty", "config": {}, "extra": ""}, sort_keys=True, separators=(",", ":"))
    assert config_version(kind="not_empty", config={}) == hashlib.sha256(payload.encode()).hexdigest()[:12]


def test_a_logic_change_changes_the_version_without_a_config_change(new_refusal_logic):
    before = config_version(kind="not_empty", config={})
    assert config_version(kind="refusal", config={}) != _hash_without_logic("refusal")
    assert config_version(kind="not_empty", config={}) == before


def _hash_without_logic(kind: str) -> str:
    payload = json.dumps({"kind": kind, "config": {}, "extra": ""}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def test_sync_moves_a_stale_evaluator_once_and_records_why(project, new_refusal_logic):
    evaluator = refusal_of(project)
    old = evaluator.version
    assert evaluator_versions_sync(project_id=project.id) == [evaluator.id]
    assert evaluator_versions_sync(project_id=project.id) == []  # the second run finds nothing to do
    evaluator.refresh_from_db()
    assert evaluator.version != old
    change = EvaluatorVersion.objects.get(evaluator=evaluator, reason="logic")
    assert (change.previous_version, change.version, change.logic_version) == (old, evaluator.version, "99")


def test_a_stale_copy_in_memory_does_not_record_the_change_twice(project, new_refusal_logic):
    first, second = refusal_of(project), refusal_of(project)
    assert evaluator_version_sync(evaluator=first) is True
    assert evaluator_version_sync(evaluator=second) is False  # conditional on the stored version
    assert second.version == first.version
    assert EvaluatorVersion.objects.filter(evaluator=first, reason="logic").count() == 1


def test_creating_and_reconfiguring_are_in_the_history_too(project):
    from apps.evaluators.services import EvaluatorSpec, evaluator_update

    evaluator = Evaluator.objects.get(project=project, name="not_empty")
    assert EvaluatorVersion.objects.filter(evaluator=evaluator, reason="created").count() == 1
    evaluator_update(
        evaluator=evaluator,
        spec=EvaluatorSpec(name="not_empty", kind="not_empty", config={"allow_tool_calls": False}, filters={}),
    )
    assert EvaluatorVersion.objects.filter(evaluator=evaluator, reason="config").count() == 1


def test_traffic_after_a_release_is_scored_with_the_new_version(project, monkeypatch):
    trace = simple_trace(project, output_text="Lo siento, pero no puedo ayudarte con eso.")
    evaluations_run(project_id=project.id, trace_pks=[trace.id])
    old = refusal_of(project).version
    monkeypatch.setattr(RefusalCheck, "logic_version", "99")
    later = simple_trace(project, output_text="Please contact a human agent.")
    evaluations_run(project_id=project.id, trace_pks=[later.id])
    new = refusal_of(project).version
    assert new != old
    assert Score.objects.get(trace=trace, name="refusal").evaluator_version == old
    score = Score.objects.get(trace=later, name="refusal")
    assert (score.evaluator_version, score.label, score.passed) == (new, "refusal", False)


def test_rescore_rejects_an_unknown_window(project):
    with pytest.raises(ValidationError) as exc:
        evaluator_rescore(evaluator=refusal_of(project), window="1y")
    assert "window" in exc.value.message_dict


@pytest.mark.django_db(transaction=True)
def test_rescore_with_a_real_worker_replaces_recent_old_version_scores_once(project, celery_worker, monkeypatch):
    now = timezone.now()
    recent = [
        simple_trace(project, at=now - timedelta(hours=h), output_text=text)
        for h, text in ((1, "Your order ships tomorrow."), (3, "That's outside what I'm able to do here."), (20, "OK"))
    ]
    old_trace = simple_trace(project, at=now - timedelta(days=3), output_text="Your parcel arrives on Friday.")
    refusal_scores = Score.objects.filter(project=project, name="refusal")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and refusal_scores.count() < 4:  # the worker scores what was ingested
        time.sleep(0.2)
    old = refusal_of(project).version
    assert set(refusal_scores.values_list("evaluator_version", flat=True)) == {old}
    monkeypatch.setattr(RefusalCheck, "logic_version", "99")

    backfill = evaluator_rescore(evaluator=refusal_of(project), window="24h")
    assert evaluator_rescore(evaluator=refusal_of(project), window="24h").id == backfill.id  # a double click
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not Backfill.objects.get(id=backfill.id).is_finished:
        time.sleep(0.2)
    backfill.refresh_from_db()
    new = refusal_of(project).version
    assert (backfill.status, backfill.total, backfill.processed, backfill.evaluator_version) == ("done", 3, 3, new)
    # Each recent trace has one refusal score, of the new version; the 3-day-old one keeps its old score.
    assert sorted(refusal_scores.filter(trace__in=recent).values_list("evaluator_version", flat=True)) == [new] * 3
    assert refusal_scores.get(trace=old_trace).evaluator_version == old
    assert refusal_scores.get(trace=recent[1]).label == "refusal"

    # Running it again (a finished re-score, clicked once more) writes the same rows, no duplicates.
    again = evaluator_rescore(evaluator=refusal_of(project), window="24h")
    assert again.id != backfill.id
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not Backfill.objects.get(id=again.id).is_finished:
        time.sleep(0.2)
    assert Backfill.objects.get(id=again.id).status == "done"
    assert refusal_scores.count() == 4


def test_the_rescore_button_answers_with_progress_and_names_a_bad_window(client, alice, bob, project):
    evaluator = refusal_of(project)
    url = f"/p/{project.slug}/evaluators/{evaluator.id}/rescore/"
    client.force_login(bob)
    assert client.post(url, {"window": "24h"}, HTTP_HX_REQUEST="true").status_code == 403
    client.force_login(alice)
    bad = client.post(url, {"window": "forever"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 400 and "window" in bad.content.decode()
    response = client.post(url, {"window": "7d"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'data-testid="rescore-cell"' in response.content.decode()
    backfill = Backfill.objects.get(evaluator=evaluator)
    assert backfill.until - backfill.since == timedelta(days=7)
    status = client.get(f"/p/{project.slug}/evaluators/rescores/{backfill.id}/", HTTP_HX_REQUEST="true")
    assert status.status_code == 200


def test_a_version_change_draws_a_step_on_its_metric_chart(client, alice, project, new_refusal_logic):
    trace = simple_trace(project, at=timezone.now() - timedelta(minutes=30), output_text="I can't help with that.")
    evaluations_run(project_id=project.id, trace_pks=[trace.id])  # syncs the version, then scores
    from apps.scores.rollups import rollups_drain

    rollups_drain()
    client.force_login(alice)
    response = client.get(f"/p/{project.slug}/panels/series/", {"metric": "refusal", "range": "24h"})
    match = re.search(r'<div class="plot" data-figure="([^"]+)"', response.content.decode())
    assert match, response.content.decode()[:2000]
    layout = json.loads(unescape(match.group(1)))["layout"]
    version = refusal_of(project).version
    # Short labels (v1 → v2), the full hashes on hover.
    annotations = layout.get("annotations", [])
    assert [a["text"] for a in annotations] == ["refusal v1 → v2 (logic)"]
    assert version in annotations[0]["hovertext"]
    assert len([s for s in layout.get("shapes", []) if s.get("x0") == s.get("x1")]) == 1
    # Another metric's chart carries no marker of the refusal evaluator.
    other = client.get(f"/p/{project.slug}/panels/series/", {"metric": "not_empty", "range": "24h"})
    assert "(logic)" not in unescape(other.content.decode())


def test_the_sync_runs_on_beat():
    import apps.evaluators.tasks  # noqa: F401 - registers the tasks, as the worker's autodiscovery does
    from config.celery import app as celery_app

    entry = celery_app.conf.beat_schedule["evaluator-versions-sync"]
    assert entry["task"] in celery_app.tasks
    assert entry["schedule"] <= timedelta(minutes=5)


def test_a_judge_is_not_rescored_in_one_click(project):
    judge_evaluator = Evaluator(project=project, name="helpful", kind=Evaluator.Kind.LLM_JUDGE)
    with pytest.raises(ValidationError) as exc:
        evaluator_rescore(evaluator=judge_evaluator, window="24h")
    assert "evaluator" in exc.value.message_dict


def test_a_worker_on_the_previous_release_never_moves_the_version_back(project, monkeypatch):
    evaluator = refusal_of(project)
    monkeypatch.setattr(RefusalCheck, "logic_version", "99")
    assert evaluator_version_sync(evaluator=evaluator) is True
    new = evaluator.version
    monkeypatch.setattr(RefusalCheck, "logic_version", "2")  # an old worker, mid rolling deploy
    stale_copy = refusal_of(project)
    assert evaluator_version_sync(evaluator=stale_copy) is False
    assert refusal_of(project).version == new


def test_the_evaluator_page_lists_its_versions(client, bob, project, new_refusal_logic):
    evaluator = refusal_of(project)
    first = evaluator.version
    evaluator_version_sync(evaluator=evaluator)
    client.force_login(bob)  # viewers see the history too
    html = client.get(f"/p/{project.slug}/evaluators/{evaluator.id}/").content.decode()
    assert html.count('data-testid="version-row"') == 2
    assert "Check logic changed" in html and evaluator.version in html and first in html
