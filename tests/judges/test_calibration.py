"""Calibration against human labels: agreement per version and day, bias probes, regression alert, mismatches."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.judges.calibration import calibration_run, calibration_start, calibrations_daily, model_family
from apps.judges.models import AgreementDay, CalibrationRun, CalibrationVerdict, JudgeVersion
from apps.judges.selectors import agreement_pairs, judge_bias_probes, shadow_live_comparison
from apps.judges.services import judge_update
from apps.review.selectors import human_consensus_list
from apps.slis.models import AlertFlip, AlertRule, AlertState, Notification
from apps.slis.services import channel_create, judge_regression_rules_sync, rule_evaluate
from tests.judges.calibration_helpers import agreeing, disagreeing, judge_on, labeled_trace, verdict_reply
from tests.traces.factories import simple_trace

pytestmark = [pytest.mark.django_db]


def calibrate(version: JudgeVersion, django_capture_on_commit_callbacks) -> CalibrationRun:
    """Start a run and execute it here (the worker test below sends it through Celery)."""
    with django_capture_on_commit_callbacks(execute=False):
        run = calibration_start(judge_version=version, trigger="manual")
    finished = calibration_run(run_id=run.id)
    assert finished is not None
    return finished


def label_many(project, user, n_good: int, n_bad: int, sample: str = "random", **fields) -> None:
    for _ in range(n_good):
        labeled_trace(project, user, good=True, sample=sample, **fields)
    for _ in range(n_bad):
        labeled_trace(project, user, good=False, sample=sample, **fields)


def test_human_consensus_keeps_random_and_routed_apart_and_drops_ties(project, alice, bob):
    good = labeled_trace(project, alice, good=True)
    labeled_trace(project, alice, good=False, sample="routed")
    tied = labeled_trace(project, alice, good=True)
    from apps.review.services import LabelInput, label_record

    label_record(project=project, user=bob, trace_pk=tied.pk, trace_id=tied.trace_id, data=LabelInput("fail"))
    labels = human_consensus_list(project=project)
    assert [(c.sample, c.passed) for c in labels] == [("random", True), ("routed", False)]
    assert [c.trace_pk for c in human_consensus_list(project=project, sample="random")] == [good.pk]


def test_calibration_records_agreement_per_sample_and_day(
    project, alice, fake_openai, django_capture_on_commit_callbacks
):
    label_many(project, alice, n_good=12, n_bad=10)
    label_many(project, alice, n_good=2, n_bad=3, sample="routed")
    # The judge agrees except on two random-sample fails it passes: tp 12, fp 2, fn 0, tn 8.
    wrong = iter([True, True])

    def mostly(payload):
        reply = agreeing(payload)
        if '"fail"' in reply.content and next(wrong, False):
            return verdict_reply(True)
        return reply

    fake_openai.responder = mostly
    judge = judge_on(project, fake_openai)
    version = JudgeVersion.objects.get(judge=judge)
    run = calibrate(version, django_capture_on_commit_callbacks)
    assert (run.status, run.scored, run.failed, run.total) == ("done", 27, 0, 27)

    day = AgreementDay.objects.get(judge_version=version, sample="random", day=timezone.now().date())
    assert (day.n, day.tp, day.fp, day.fn, day.tn) == (22, 12, 2, 0, 8)
    # p_o = 20/22; p_e = (14·12 + 8·10)/22² = 248/484; κ = (20/22 − 248/484)/(1 − 248/484) = 192/236.
    assert day.kappa == pytest.approx(192 / 236)
    assert day.tpr == 1.0 and day.tnr == pytest.approx(0.8)
    routed = AgreementDay.objects.get(judge_version=version, sample="routed")
    assert (routed.n, routed.kappa) == (5, 1.0)
    version.refresh_from_db()
    assert version.baseline_kappa == pytest.approx(192 / 236) and version.baseline_n == 22

    # A second run grades only what is new.
    labeled_trace(project, alice, good=True)
    requests_before = len(fake_openai.requests)
    run = calibrate(version, django_capture_on_commit_callbacks)
    assert run.scored == 1 and len(fake_openai.requests) == requests_before + 1
    assert len(agreement_pairs(project=project, judge_version=version)) == 23  # random sample, joined


def test_a_judge_whose_server_starts_disagreeing_raises_a_regression_alert(
    client, project, alice, fake_openai, django_capture_on_commit_callbacks
):
    channel = channel_create(project=project, name="oncall", kind="email", target="oncall@example.com")
    fake_openai.responder = agreeing
    judge = judge_on(project, fake_openai)
    version = JudgeVersion.objects.get(judge=judge)
    label_many(project, alice, n_good=15, n_bad=15)
    calibrate(version, django_capture_on_commit_callbacks)
    version.refresh_from_db()
    assert version.baseline_kappa == 1.0

    rule_ids = judge_regression_rules_sync(project=project)
    rule = AlertRule.objects.get(id=rule_ids[0])
    assert (rule.comparator, rule.threshold, rule.window) == (">", judge.regression_margin, "7d")
    assert list(rule.channels.all()) == [channel]
    assert rule_evaluate(rule_id=rule.id) == []  # agreeing: no drop
    assert AlertState.objects.get(rule=rule).state == "ok"

    # The provider changed the model behind the endpoint: it now disagrees with people on new labels.
    fake_openai.responder = disagreeing
    label_many(project, alice, n_good=15, n_bad=15)
    calibrate(version, django_capture_on_commit_callbacks)
    flips = rule_evaluate(rule_id=rule.id)
    assert [f.to_state for f in flips] == ["firing"]
    flip = AlertFlip.objects.get(id=flips[0].id)
    # 60 random-sample verdicts in the window, half of them wrong: κ = 0, a drop of 1.0 from the baseline.
    assert flip.value == pytest.approx(1.0) and flip.samples == 60
    assert "Judge agreement drop: grader" in flip.message
    assert Notification.objects.filter(flip=flip, channel=channel).count() == 1
    # It shows where every alert shows: the alerts page, the alert, the rule and the SLI pages.
    client.force_login(alice)
    alert = AlertState.objects.get(rule=rule)
    for path in (
        f"/p/{project.slug}/alerts/",
        f"/p/{project.slug}/alerts/{alert.id}/",
        f"/p/{project.slug}/alert-rules/{rule.id}/",
        f"/p/{project.slug}/slis/",
        f"/p/{project.slug}/slis/{rule.sli_id}/",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
    assert "Judge agreement drop: grader" in client.get(f"/p/{project.slug}/alerts/").content.decode()

    # The margin is the judge's setting: the rule follows it.
    judge_update(judge=judge, regression_margin=1.5)
    judge_regression_rules_sync(project=project)
    rule.refresh_from_db()
    assert rule.threshold == 1.5
    assert judge_regression_rules_sync(project=project) == []  # one rule per judge


def test_model_mismatch_is_flagged_and_counted(project, alice, fake_openai, django_capture_on_commit_callbacks):
    label_many(project, alice, n_good=2, n_bad=2)
    answers = iter(["test-model-2024-08-06", "test-model-2025-03-01", "test-model-2025-03-01", ""])

    def drifting(payload):
        reply = agreeing(payload)
        reply.model = next(answers)
        return reply

    fake_openai.responder = drifting
    judge = judge_on(project, fake_openai)
    version = JudgeVersion.objects.get(judge=judge)
    calibrate(version, django_capture_on_commit_callbacks)
    flagged = CalibrationVerdict.objects.filter(judge_version=version, is_model_mismatch=True)
    assert sorted(flagged.values_list("model_reported", flat=True)) == ["test-model-2025-03-01"] * 2
    version.refresh_from_db()
    # An answer naming no model is not flagged: only a named other model is evidence.
    assert (version.judged_count, version.mismatch_count, version.last_mismatch_model) == (
        4,
        2,
        "test-model-2025-03-01",
    )


def test_bias_probes_split_by_length_quartile_and_model_family(
    project, alice, fake_openai, django_capture_on_commit_callbacks
):
    # A judge that passes every long answer: people fail the long BAD ones, so agreement falls in the top quartile.
    for i in range(8):
        good = i % 2 == 0
        labeled_trace(
            project, alice, good=good, output=("GOOD" if good else "BAD") + " x" * (i + 1), model="gpt-4o-mini"
        )
    for i in range(8):
        good = i % 2 == 0
        labeled_trace(
            project, alice, good=good, output=("GOOD" if good else "BAD") + " y" * (200 + i), model="claude-3-5-sonnet"
        )

    def length_biased(payload):
        from tests.support.openai_server import FakeOpenAI

        answer = FakeOpenAI.graded_answer(payload)
        return verdict_reply(len(answer) > 300 or "GOOD" in answer)

    fake_openai.responder = length_biased
    judge = judge_on(project, fake_openai)  # the fake's model name has no known family: "test"
    judge_update(judge=judge, model="gpt-4o-2024-08-06")
    version = JudgeVersion.objects.get(judge=judge, status="current")
    calibrate(version, django_capture_on_commit_callbacks)
    probes = judge_bias_probes(judge_version=version)
    assert probes.n == 16 and len(probes.by_length) == 4
    assert [row.agreement.n for row in probes.by_length] == [4, 4, 4, 4]
    assert probes.by_length[0].agreement.accuracy == 1.0
    assert probes.by_length[3].agreement.accuracy == 0.5
    assert probes.by_length[3].judge_pass_rate == 1.0 and probes.by_length[3].human_pass_rate == 0.5
    own, other = probes.by_family
    assert own.agreement.n == 8 and own.agreement.accuracy == 1.0  # the short gpt answers
    assert other.agreement.n == 8 and other.agreement.accuracy == 0.5


def test_model_family():
    assert model_family("gpt-4o-2024-08-06") == model_family("openai/o3-mini") == "openai"
    assert model_family("claude-3-5-sonnet-20241022") == "anthropic"
    assert model_family("Meta-Llama-3.1-8B") == "meta"
    assert model_family("") == ""


def test_agreement_api_returns_latest_figures_and_the_daily_series(
    admin_api_client, project, alice, fake_openai, django_capture_on_commit_callbacks
):
    label_many(project, alice, n_good=3, n_bad=2)
    label_many(project, alice, n_good=1, n_bad=1, sample="routed")
    fake_openai.responder = agreeing
    judge = judge_on(project, fake_openai)
    calibrate(JudgeVersion.objects.get(judge=judge), django_capture_on_commit_callbacks)
    response = admin_api_client.get(f"/api/v1/judges/{judge.id}/agreement")
    assert response.status_code == 200
    body = response.json()
    assert body["primary_sample"] == "random" and body["version"] == 1
    random = body["latest"]["random"]
    assert random["n"] == 5 and random["kappa"] == 1.0 and random["confusion"] == {"tp": 3, "fp": 0, "fn": 0, "tn": 2}
    assert body["latest"]["routed"]["n"] == 2
    assert [(d["sample"], d["n"]) for d in body["series"]] == [("random", 5), ("routed", 2)]
    assert body["series"][0]["day"] == timezone.now().date().isoformat()
    assert body["last_run"]["status"] == "done"
    assert admin_api_client.get(f"/api/v1/judges/{judge.id}/agreement?version=x").json()["field"] == "version"


def test_shadow_versions_are_calibrated_side_by_side(
    admin_api_client, project, alice, fake_openai, django_capture_on_commit_callbacks
):
    label_many(project, alice, n_good=3, n_bad=3)
    fake_openai.responder = agreeing
    judge = judge_on(project, fake_openai)
    with django_capture_on_commit_callbacks(execute=False):
        judge_update(judge=judge, model="test-model-next", shadow=True)
    with django_capture_on_commit_callbacks(execute=False):
        run_ids = calibrations_daily()
    assert len(run_ids) == 2
    for run_id in run_ids:
        calibration_run(run_id=run_id)
    versions = admin_api_client.get(f"/api/v1/judges/{judge.id}/agreement").json()["versions"]
    assert [(v["number"], v["status"], v["latest"]["random"]["n"]) for v in versions] == [
        (2, "shadow", 6),
        (1, "current", 6),
    ]
    assert versions[0]["changes"] == [{"field": "model", "current": "test-model-2024-08-06", "this": "test-model-next"}]
    models = {r["json"]["model"] for r in fake_openai.requests}
    assert models == {"test-model-2024-08-06", "test-model-next"}  # each version asked its own model


def test_an_outage_ends_the_run_and_the_next_run_resumes(
    project, alice, fake_openai, django_capture_on_commit_callbacks
):
    from tests.support.openai_server import Reply

    label_many(project, alice, n_good=2, n_bad=1)
    fake_openai.responder = agreeing
    fake_openai.replies.extend([verdict_reply(True), Reply(status=503)])
    judge = judge_on(project, fake_openai)
    version = JudgeVersion.objects.get(judge=judge)
    run = calibrate(version, django_capture_on_commit_callbacks)
    assert run.status == "failed" and run.scored == 1 and "HTTP 503" in run.error
    run = calibrate(version, django_capture_on_commit_callbacks)
    assert run.status == "done" and run.scored == 2
    assert CalibrationVerdict.objects.filter(judge_version=version).count() == 3


@pytest.mark.django_db(transaction=True)
def test_calibrate_api_runs_through_a_real_worker(admin_api_client, project, alice, fake_openai, celery_worker):
    label_many(project, alice, n_good=2, n_bad=2)
    fake_openai.responder = agreeing
    judge = judge_on(project, fake_openai)  # version 1's own run is queued at creation
    response = admin_api_client.post(f"/api/v1/judges/{judge.id}/calibrate", {}, format="json")
    assert response.status_code == 202
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not CalibrationRun.objects.filter(status__in=["pending", "running"]).exists():
            break
        time.sleep(0.2)
    assert CalibrationRun.objects.filter(status="done").exists()
    assert CalibrationVerdict.objects.filter(judge_version__judge=judge).count() == 4
    body = admin_api_client.get(f"/api/v1/judges/{judge.id}/agreement").json()
    assert body["latest"]["random"]["kappa"] == 1.0


def test_a_shadow_is_compared_with_the_current_version_on_a_live_sample(
    admin_api_client, project, alice, fake_openai, django_capture_on_commit_callbacks, settings
):
    settings.JUDGE_SHADOW_LIVE_SAMPLE = 3
    label_many(project, alice, n_good=1, n_bad=1)
    for i in range(4):  # live traffic nobody labeled
        simple_trace(
            project, at=timezone.now() - timedelta(minutes=5 + i), output_text="GOOD live" if i else "BAD live"
        )

    def by_model(payload):
        # v1 agrees with people; the shadow (another model) passes everything.
        if payload.get("model") == "test-model-next":
            return verdict_reply(True, model="test-model-next")
        return agreeing(payload)

    fake_openai.responder = by_model
    judge = judge_on(project, fake_openai)
    with django_capture_on_commit_callbacks(execute=False):
        _, shadow = judge_update(judge=judge, model="test-model-next", shadow=True)
    run = calibrate(shadow, django_capture_on_commit_callbacks)
    assert run.status == "done"
    live = shadow_live_comparison(judge_version=shadow)
    # The three newest live answers: two GOOD, one BAD; the shadow passes the BAD one too.
    assert live.n == 3 and live.shadow_pass_rate == 1.0 and live.current_pass_rate == pytest.approx(2 / 3)
    assert live.agreement.accuracy == pytest.approx(2 / 3)
    versions = admin_api_client.get(f"/api/v1/judges/{judge.id}/agreement").json()["versions"]
    assert versions[0]["live"]["n"] == 3 and versions[1]["live"] is None
    calibrate(shadow, django_capture_on_commit_callbacks)
    assert shadow_live_comparison(judge_version=shadow).n == 4  # the next run takes the ones not yet compared


def test_the_embeddings_endpoint_is_neither_calibrated_nor_alerted_on(
    project, fake_openai, django_capture_on_commit_callbacks, settings
):
    settings.FEEDBACK_EMBEDDINGS_JUDGE = "embeddings"
    judge_on(project, fake_openai, name="embeddings")
    grader = judge_on(project, fake_openai)
    with django_capture_on_commit_callbacks(execute=False):
        runs = calibrations_daily()
    assert {CalibrationRun.objects.get(id=r).judge_version.judge_id for r in runs} == {grader.id}
    rules = judge_regression_rules_sync(project=project)
    assert [AlertRule.objects.get(id=r).name for r in rules] == ["Judge regression: grader"]
