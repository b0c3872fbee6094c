"""The seeded labels at work: the demo judge is calibrated on them by the worker (κ on its page), and they are the
labeled random sample of the bias-corrected rate, paired with the demo judge's verdicts."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.demo.judge_server import DemoServer
from apps.demo.services import DEMO_JUDGE_NAME, demo_setup
from apps.judges.models import CalibrationRun, Judge, JudgeVersion
from apps.judges.selectors import judge_agreement
from apps.review.models import Label
from apps.scores.corrected import calibration_pairs
from apps.scores.models import Score

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(done, *, timeout: float = 60.0) -> None:
    """Poll done() every half second until it holds, or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.5)
    pytest.fail("timed out waiting for the worker")


def test_seeded_labels_calibrate_the_demo_judge_and_feed_the_corrected_rate(celery_worker, settings, client):
    settings.JUDGE_ALLOWED_HOSTS = settings.ALERT_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    server = DemoServer(on_alert=lambda payload: None).start()
    settings.DEMO_SERVER_PORT = server.port
    try:
        setup = demo_setup(username="admin", password="pw-for-tests-123", traces=240)
        project = setup.project
        assert setup.labels >= 25
        version = JudgeVersion.objects.get(judge__project=project, judge__name=DEMO_JUDGE_NAME, status="current")
        runs = CalibrationRun.objects.filter(judge_version=version)
        wait_for(lambda: runs.filter(status="done", scored__gt=0).exists())
        # The evaluator's verdicts on the seeded traffic come through the worker too.
        judged = Score.objects.filter(project=project, source="judge")
        wait_for(
            lambda: judged.count() >= 40 and judged.filter(trace_id__in=labeled_pks(project)).count() >= setup.labels
        )
    finally:
        server.stop()
    # Calibration graded every seeded label; κ over the random sample is a number, and the judge agrees more than
    # chance (it grades the static seed's answers from their ground truth, with noise; the reviewer slips on a few).
    assert sum(runs.values_list("scored", flat=True)) == setup.labels
    agreement = judge_agreement(judge_version=version)
    assert agreement["random"].n == setup.labels and agreement["random"].kappa is not None
    assert agreement["random"].accuracy > 0.8 and agreement["random"].kappa > 0.2
    # The judge page shows it.
    client.force_login(project.memberships.get(role="admin").user)
    judge = Judge.objects.get(project=project, name=DEMO_JUDGE_NAME)
    page = client.get(f"/p/{project.slug}/judges/{judge.id}/").content.decode()
    kappa = re.search(r'data-testid="kappa-random">([^<]*)<', page)
    assert kappa and re.fullmatch(r"-?[01]\.\d{3}", kappa.group(1)), kappa
    # The bias-corrected rate has its labeled random sample: each seeded label paired with the demo judge's verdict.
    (metric,) = set(judged.values_list("name", flat=True))
    now = timezone.now()
    pairs = calibration_pairs(project=project, metric=metric, start=now - timedelta(days=2), end=now)
    assert len(pairs) == setup.labels


def labeled_pks(project) -> list[int]:
    return list(Label.objects.filter(project=project).values_list("trace_pk", flat=True))
