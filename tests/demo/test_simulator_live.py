"""The simulator against the running app: real OTLP and feedback endpoints, a real worker, real rule evaluation."""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.urls import Resolver404, resolve
from django.utils import timezone

from apps.datasets.divergence import divergence_gap_values, divergence_list
from apps.datasets.models import OfflineRun
from apps.demo.bank import bank_load
from apps.demo.judge_server import DemoServer
from apps.demo.scenario import Rollout, Script
from apps.demo.services import demo_configure
from apps.feedback.models import Feedback
from apps.scores.models import Score
from apps.slis.models import AlertState
from apps.traces.models import Span, Trace
from tests.demo.helpers import beats_until, settled, simulator_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_simulated_traffic_lands_as_traces_spans_scores_and_feedback(live_server, project, celery_worker, caplog):
    caplog.set_level(logging.INFO, logger="apps.demo.simulator")
    # Regressed from the start: enough bad answers in 80 requests for users to retry and rephrase.
    script = Script(bank_load(), seed=21, rollout=Rollout(after_seconds=0))
    stats = simulator_for(live_server, project, script=script, rate=20, speed=30).run(max_requests=80)
    settled(project, stats.requests)
    traces = Trace.objects.filter(project=project)
    assert traces.count() == stats.requests == 80
    assert set(traces.values_list("trace_id", flat=True)) == set(stats.trace_ids)
    assert Counter(traces.values_list("route", "prompt_version")) == stats.by_slice
    assert set(traces.values_list("model", flat=True)) == {"gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"}
    assert traces.exclude(session_id="").count() == 80 and traces.exclude(user_id="").count() == 80
    sessions = Counter(traces.values_list("session_id", flat=True))
    assert stats.sessions == len(sessions) < 80 and max(sessions.values()) >= 2  # multi-turn conversations
    assert all(t.input_text and t.output_text and t.cost and t.status == "ok" for t in traces)
    spans = Counter(Span.objects.filter(project=project).values_list("kind", flat=True))
    assert spans["retrieval"] == spans["llm"] == 80
    assert all(s.documents for s in Span.objects.filter(project=project, kind="retrieval"))
    # The default evaluators scored every answer: refusals as refusals, against the script's ground truth.
    refusals = Score.objects.filter(project=project, name="refusal", passed=False).count()
    expected = sum(n for (_, _, outcome), n in stats.outcomes.items() if outcome == "refusal")
    assert refusals == expected
    assert Score.objects.filter(project=project, name="grounding").count() == 80
    # Votes went through the feedback API and linked to their traces.
    explicit = Counter(Feedback.objects.filter(project=project, source="explicit").values_list("kind", flat=True))
    assert explicit == +stats.feedback and sum(explicit.values()) > 5
    assert not Feedback.objects.filter(project=project, trace_pk__isnull=True).exists()
    # The implicit detectors find the users' retries in the sessions' turns.
    deadline = time.monotonic() + 30
    inferred: Counter[str] = Counter()
    while time.monotonic() < deadline:
        inferred = Counter(Feedback.objects.filter(project=project, source="inferred").values_list("kind", flat=True))
        if inferred["regenerate"] >= stats.retries["regenerate"] and inferred["rephrase"] >= stats.retries["rephrase"]:
            break
        time.sleep(1)
    assert stats.retries["regenerate"] >= 1 and stats.retries["rephrase"] >= 1
    regenerated = set(Feedback.objects.filter(project=project, kind="regenerate").values_list("trace_id", flat=True))
    assert set(stats.retried["regenerate"]) <= regenerated  # each on the answer the user asked again for
    assert inferred["rephrase"] >= max(1, stats.retries["rephrase"] / 2)  # the lexical reading misses a few
    # The offline run of each version it ships (v3 at the start, v4 at the rollout) is posted; a server without
    # the offline-runs endpoint answers 404, and the simulator says so and carries on.
    assert [r["prompt_version"] for r in stats.offline_runs] == ["v3", "v4"]
    assert offline_runs_served() and stats.offline_posted == 2, caplog.text
    stored = {
        run.prompt_version: {m.name: m.value for m in run.metrics.all()}
        for run in OfflineRun.objects.filter(project=project, status=OfflineRun.Status.DONE)
    }
    assert stored == {r["prompt_version"]: r["metrics"] for r in stats.offline_runs}


def offline_runs_served() -> bool:
    """Whether this server has POST /api/v1/offline-runs (issue 11); the simulator must work with and without."""
    try:
        resolve("/api/v1/offline-runs")
    except Resolver404:
        return False
    return True


def test_accelerated_rollout_fires_the_sliced_alert_for_that_slice_only(live_server, project, celery_worker, settings):
    settings.ALERT_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.JUDGE_ALLOWED_HOSTS = ["127.0.0.1"]
    receiver = DemoServer(on_alert=lambda payload: None).start()  # the demo webhook receiver
    try:
        configured = demo_configure(project=project, server_url=f"http://127.0.0.1:{receiver.port}")
        assert configured.notes == [] and configured.channel is not None
        # 180 script seconds in at 36x: the rollout comes 5 s into a 20 s run.
        script = Script(bank_load(), seed=4, rollout=Rollout(after_seconds=180))
        stats = simulator_for(live_server, project, script=script, rate=6, speed=36).run(duration=20)
        assert 20 <= (stats.regressed_after_requests or 0) <= 40
        settled(project, stats.requests)
        # Beats until the webhook hears, then more over the same data: no other slice joins, nothing repeats.
        beats_until(lambda: receiver.alerts)
    finally:
        receiver.stop()
    assert len(receiver.alerts) == 1, [a.get("message") for a in receiver.alerts]
    (alert,) = receiver.alerts
    assert alert["state"] == "firing" and alert["slice"] == {"route": "/support/billing", "prompt_version": "v4"}
    assert alert["baseline"]["kind"] == "predecessor"
    assert alert["baseline"]["slice"] == {"route": "/support/billing", "prompt_version": "v3"}
    assert "prompt_version=v4" in alert["message"] and "v3" in alert["message"]
    firing = AlertState.objects.filter(rule=configured.rule, state="firing")
    assert [a.slice for a in firing] == [{"route": "/support/billing", "prompt_version": "v4"}]
    assert AlertState.objects.filter(rule=configured.rule).count() >= 4  # every other slice was judged, and is ok
    # Thumbs-down follow the regression; the offline run for v4 that the simulator posted stayed green.
    down = Counter(
        Score.objects.filter(project=project, name="thumbs_down", value=1.0).values_list("prompt_version", flat=True)
    )
    served = Counter(pv for (_, pv), n in stats.by_slice.items() for _ in range(n))
    assert down["v4"] / served["v4"] > down["v3"] / served["v3"]
    (offline_v4,) = [r for r in stats.offline_runs if r["prompt_version"] == "v4"]
    assert set(offline_v4) == {"name", "model", "prompt_version", "git_revision", "metrics"}
    assert min(offline_v4["metrics"].values()) >= 0.9
    divergence_flags_v4_refusal(project, model=offline_v4["model"])


def divergence_flags_v4_refusal(project, *, model: str) -> None:
    """Green offline, regressed online: the divergence flags v4's refusal rate (offline better than production), and
    not v3's. The offline run names the model the traces report, so the two sides meet on it."""
    assert Trace.objects.filter(project=project, prompt_version="v4", model=model).count() >= 10
    now = timezone.now()
    start, end = now - timedelta(hours=1), now + timedelta(minutes=1)  # ranges count whole minutes: this one too
    # The panel's table, one bucket (the run is seconds long; live, the default of 3 one-minute buckets is met 3
    # minutes after the rollout).
    items = divergence_list(project=project, start=start, end=end, interval="1d", persist=1)
    by_key = {(d.model, d.prompt_version, d.metric): d for d in items}
    v4, v3 = by_key[(model, "v4", "refusal")], by_key[(model, "v3", "refusal")]
    assert v4.flagged and v4.behind, v4.points
    assert v4.latest_offline.value == 1.0 and v4.latest.online < 0.85 and v4.latest.gap > 0.15
    assert not v3.flagged and abs(v3.latest.gap) < 0.1, v3.points
    assert items[0].flagged and items[0].prompt_version == "v4"  # flagged rows come first
    # The same gap over the whole range, per prompt version (what a divergence SLI reads).
    gaps = {
        g["prompt_version"]: gap
        for g, gap, _ in divergence_gap_values(
            project=project, metric="refusal", start=start, end=end, group_by=["prompt_version"]
        )
    }
    assert gaps["v4"] > 0.15 > 0.1 > abs(gaps["v3"]), gaps
