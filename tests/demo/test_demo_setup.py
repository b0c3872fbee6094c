"""seed_demo's live parts: the demo judge (demo project only), SLIs and the sliced rule, seeded human labels."""

from __future__ import annotations

import pytest

from apps.demo.models import DemoSimulation
from apps.demo.services import (
    DEMO_EVALUATOR_NAME,
    DEMO_JUDGE_NAME,
    DEMO_RANDOM_SAMPLE_PERCENT,
    DEMO_RULE_NAME,
    demo_judges_calibrate,
    demo_labels_seed,
    demo_setup,
)
from apps.evaluators.selectors import sampled
from apps.judges.models import CalibrationRun, Judge, JudgeVersion
from apps.projects.models import ApiKey
from apps.projects.services import project_create
from apps.review.models import Label, ReviewItem, RoutingRule
from apps.scores.models import Score
from apps.slis.models import AlertRule, Channel, Sli

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_hasher(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_demo_setup_wires_the_demo_judge_slis_rule_and_labels(settings):
    settings.JUDGE_ALLOWED_HOSTS = settings.ALERT_ALLOWED_HOSTS = ["127.0.0.1"]
    result = demo_setup(username="admin", password="pw-for-tests-123", traces=240)
    project = result.project
    judge = Judge.objects.get(project=project, name=DEMO_JUDGE_NAME)
    assert judge.base_url == f"http://127.0.0.1:{settings.DEMO_SERVER_PORT}/v1" and "demo" in judge.model
    evaluator = project.evaluators.get(name=DEMO_EVALUATOR_NAME)
    assert evaluator.judge == judge and evaluator.config["rubric"] == "faithfulness"
    assert {"Refusal rate", "Grounding rate", "Thumbs-down rate"} <= set(
        Sli.objects.filter(project=project).values_list("name", flat=True)
    )
    rule = AlertRule.objects.get(project=project, name=DEMO_RULE_NAME)
    assert sorted(rule.group_by) == ["prompt_version", "route"] and rule.sli.metric == "refusal"
    assert [c.target for c in rule.channels.all()] == [f"http://127.0.0.1:{settings.DEMO_SERVER_PORT}/webhook"]
    assert DemoSimulation.objects.get(project=project).is_running
    # A few dozen labels, failures among them, written as human scores that calibration reads; each on a review item
    # the random_sample rule queued (the only labels the bias-corrected rates count) and on a trace the demo judge
    # grades (so the corrected rate has pairs).
    labels = Label.objects.filter(project=project)
    assert result.labels == labels.count() and 25 <= result.labels <= 36
    random_items = ReviewItem.objects.filter(project=project, reasons__contains=[{"kind": "random_sample"}])
    assert set(labels.values_list("trace_pk", flat=True)) <= set(random_items.values_list("trace_pk", flat=True))
    assert all(
        sampled(trace_id=t, evaluator_name=DEMO_EVALUATOR_NAME, rate=0.5)
        for t in labels.values_list("trace_id", flat=True)
    )
    assert RoutingRule.objects.get(project=project, kind="random_sample").sample_percent == DEMO_RANDOM_SAMPLE_PERCENT
    verdicts = Score.objects.filter(project=project, name="human_verdict", source="human")
    assert verdicts.count() == result.labels and 1 <= verdicts.filter(passed=False).count() < result.labels / 2
    assert Score.objects.filter(project=project, name="human_label").count() == result.labels
    # The demo judge is calibrated on them at once (the run is queued; the live test sees it graded).
    version = JudgeVersion.objects.get(judge=judge, status="current")
    assert CalibrationRun.objects.filter(judge_version=version, status__in=["pending", "running", "done"]).exists()
    # The demo judge was asked to grade the seeded traffic too (sampled, through its evaluator).
    from apps.judges.models import JudgeRequest

    assert JudgeRequest.objects.filter(project=project).count() > 50
    # A second seed adds nothing.
    again = demo_setup(username="admin", traces=240)
    assert again.labels == 0 and Judge.objects.filter(project=project).count() == 1
    assert (
        AlertRule.objects.filter(project=project).count() == 1 and Channel.objects.filter(project=project).count() == 1
    )


def test_without_loopback_allowed_the_judge_and_webhook_are_skipped_with_a_note(settings):
    settings.JUDGE_ALLOWED_HOSTS = settings.ALERT_ALLOWED_HOSTS = []
    result = demo_setup(username="admin", password="pw-for-tests-123", traces=10)
    assert not Judge.objects.filter(project=result.project).exists()
    assert any("demo judge skipped" in note for note in result.notes)
    assert any("demo webhook skipped" in note for note in result.notes)
    assert AlertRule.objects.get(project=result.project, name=DEMO_RULE_NAME).channels.count() == 0


def test_sightline_demo_off_seeds_only_the_static_traffic(settings):
    settings.SIGHTLINE_DEMO = False
    settings.JUDGE_ALLOWED_HOSTS = settings.ALERT_ALLOWED_HOSTS = ["127.0.0.1"]
    result = demo_setup(username="admin", password="pw-for-tests-123", traces=10)
    assert result.traces == 10 and result.labels == 0
    assert not Judge.objects.exists() and not AlertRule.objects.exists()
    assert not DemoSimulation.objects.exists()


def test_the_demo_judge_is_never_a_new_projects_default(settings, alice):
    settings.JUDGE_ALLOWED_HOSTS = settings.ALERT_ALLOWED_HOSTS = ["127.0.0.1"]
    demo_setup(username="admin", password="pw-for-tests-123", traces=10)
    other = project_create(name="Real project", owner=alice)
    assert not Judge.objects.filter(project=other).exists()
    assert not other.evaluators.filter(kind="llm_judge").exists()
    assert not DemoSimulation.objects.filter(project=other).exists()


def test_labels_are_seeded_once():
    result = demo_setup(username="admin", password="pw-for-tests-123", traces=60)
    assert demo_labels_seed(project=result.project) == 0
    assert ApiKey.objects.filter(project=result.project).count() == 1


def test_the_demo_server_queues_the_demo_judges_calibration_until_one_is_done(settings):
    settings.JUDGE_ALLOWED_HOSTS = settings.ALERT_ALLOWED_HOSTS = ["127.0.0.1"]
    project = demo_setup(username="admin", password="pw-for-tests-123", traces=120).project
    runs = CalibrationRun.objects.filter(project=project)
    runs.update(status="failed", error="judge unreachable")  # the worker tried before the demo server listened
    assert demo_judges_calibrate() == 1 and runs.filter(status="pending").count() == 1
    runs.filter(status="pending").update(status="done")
    assert demo_judges_calibrate() == 0 and not runs.filter(status="pending").exists()
