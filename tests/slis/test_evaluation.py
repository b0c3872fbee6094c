"""Rule evaluation from the rollups: slices, baselines, `for`, min_samples, recovery, resets, double runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.slis.models import AlertFlip, AlertRule, AlertState, Channel, Notification
from apps.slis.services import (
    _transition,
    alert_rule_create,
    alert_rule_update,
    rule_evaluate,
    sli_create_from_template,
)
from apps.slis.tasks import rule_evaluate_task
from tests.slis.helpers import settle, traffic

pytestmark = pytest.mark.django_db

T = datetime(2026, 11, 30, 12, 0, 10, tzinfo=UTC)


def refusal_rule(project, **fields):
    sli = sli_create_from_template(project=project, template="refusal_rate")
    defaults = {"comparator": ">", "threshold": 0.05, "window": "5m", "min_samples": 10}
    return alert_rule_create(project=project, sli=sli, **{**defaults, **fields})


def states(rule):
    return {a.slice_key: a.state for a in AlertState.objects.filter(rule=rule)}


def test_one_prompt_version_degrades_and_the_alert_names_that_version_and_its_predecessor(project):
    # The previous day: v13 on both routes, clean.
    for route in ("/support/chat", "/search"):
        traffic(project, at=T - timedelta(hours=3), n=20, refused=0, prompt_version="v13", route=route)
    # Now: v14 refuses on /support/chat; v13 keeps answering on both routes.
    traffic(project, at=T, n=20, refused=6, prompt_version="v14", route="/support/chat")
    traffic(project, at=T, n=20, refused=0, prompt_version="v13", route="/support/chat")
    traffic(project, at=T, n=20, refused=0, prompt_version="v13", route="/search")
    settle()
    rule = refusal_rule(project, group_by=["prompt_version", "route"])
    flips = rule_evaluate(rule_id=rule.id, now=T + timedelta(seconds=30))
    firing = [f for f in flips if f.to_state == "firing"]
    assert len(firing) == 1
    flip = firing[0]
    assert flip.alert.slice == {"prompt_version": "v14", "route": "/support/chat"}
    assert flip.value == pytest.approx(0.3) and flip.samples == 20
    assert flip.baseline["kind"] == "predecessor"
    assert flip.baseline["slice"] == {"prompt_version": "v13", "route": "/support/chat"}
    assert flip.baseline["value"] == 0.0
    assert flip.message == (
        "Refusal rate 30 % > 5 % for prompt_version=v14, route=/support/chat over 5m (20 samples); "
        "baseline 0 % on prompt_version=v13 over the last 24 h"
    )
    assert states(rule) == {
        "prompt_version=v14,route=/support/chat": "firing",
        "prompt_version=v13,route=/support/chat": "ok",
        "prompt_version=v13,route=/search": "ok",
    }


def test_a_slice_with_its_own_history_is_compared_with_its_previous_period(project):
    traffic(project, at=T - timedelta(hours=2), n=20, refused=1, route="/a")
    traffic(project, at=T, n=20, refused=8, route="/a")
    settle()
    rule = refusal_rule(project, group_by=["route"])
    (flip,) = rule_evaluate(rule_id=rule.id, now=T)
    assert flip.baseline["kind"] == "previous_period" and flip.baseline["value"] == pytest.approx(0.05)
    assert "5 % on the same slice over the previous 24 h" in flip.message


def test_for_keeps_the_alert_pending_then_fires_once(project):
    traffic(project, at=T, n=20, refused=10)
    settle()
    rule = refusal_rule(project, window="10m", for_duration="2m")
    assert [f.to_state for f in rule_evaluate(rule_id=rule.id, now=T)] == ["pending"]
    assert rule_evaluate(rule_id=rule.id, now=T + timedelta(minutes=1)) == []
    assert [f.to_state for f in rule_evaluate(rule_id=rule.id, now=T + timedelta(minutes=2))] == ["firing"]
    assert rule_evaluate(rule_id=rule.id, now=T + timedelta(minutes=3)) == []
    history = list(AlertFlip.objects.filter(rule=rule).order_by("seq").values_list("from_state", "to_state"))
    assert history == [("ok", "pending"), ("pending", "firing")]


def test_below_min_samples_the_rule_does_not_judge(project):
    traffic(project, at=T, n=5, refused=5)
    settle()
    rule = refusal_rule(project, min_samples=10)
    assert [f.to_state for f in rule_evaluate(rule_id=rule.id, now=T)] == ["no_data"]
    assert states(rule) == {"": "no_data"}


def test_recovery_resolves_and_no_data_when_traffic_stops(project):
    traffic(project, at=T, n=20, refused=10)
    traffic(project, at=T + timedelta(minutes=10), n=20, refused=0)
    settle()
    rule = refusal_rule(project)
    assert [f.to_state for f in rule_evaluate(rule_id=rule.id, now=T)] == ["firing"]
    assert [f.to_state for f in rule_evaluate(rule_id=rule.id, now=T + timedelta(minutes=10))] == ["resolved"]
    assert [f.to_state for f in rule_evaluate(rule_id=rule.id, now=T + timedelta(minutes=30))] == ["no_data"]


def test_a_firing_slice_whose_traffic_stops_resolves_then_has_no_data(project):
    channel = Channel.objects.create(project=project, name="hook", kind="webhook", target="http://127.0.0.1:9/")
    traffic(project, at=T, n=20, refused=10, prompt_version="v14")  # then v14 is rolled back: no more traffic
    settle()
    rule = refusal_rule(project, group_by=["prompt_version"], channels=[channel.id])
    rule_evaluate(rule_id=rule.id, now=T)
    (resolved,) = rule_evaluate(rule_id=rule.id, now=T + timedelta(minutes=20))
    assert (resolved.from_state, resolved.to_state, resolved.value) == ("firing", "resolved", None)
    assert resolved.message.startswith("resolved (no data): Refusal rate has fewer than 10 samples")
    assert [f.to_state for f in rule_evaluate(rule_id=rule.id, now=T + timedelta(minutes=21))] == ["no_data"]
    states = list(Notification.objects.order_by("id").values_list("payload__state", flat=True))
    assert states == ["firing", "resolved"]


def test_editing_the_rule_resets_its_state_and_records_the_reset(project):
    traffic(project, at=T, n=20, refused=10)
    settle()
    rule = refusal_rule(project)
    rule_evaluate(rule_id=rule.id, now=T)
    assert states(rule) == {"": "firing"}
    rule = alert_rule_update(rule=AlertRule.objects.get(id=rule.id), threshold=0.6)
    assert rule.version == 2
    assert states(rule) == {"": "ok"}
    reset = AlertFlip.objects.filter(rule=rule).order_by("-seq").first()
    assert (reset.from_state, reset.to_state, reset.reason) == ("firing", "ok", "rule edited: state reset")
    assert rule_evaluate(rule_id=rule.id, now=T) == []  # 50 % is not above 60 %
    alert_rule_update(rule=AlertRule.objects.get(id=rule.id), name="renamed")  # not what it judges: no reset
    assert AlertRule.objects.get(id=rule.id).version == 2


def test_a_double_evaluation_makes_each_transition_once(project):
    channel = Channel.objects.create(project=project, name="hook", kind="webhook", target="http://127.0.0.1:9/")
    traffic(project, at=T, n=20, refused=10)
    settle()
    rule = refusal_rule(project, channels=[channel.id])
    # The state as an overlapping run read it, before the first run wrote its transition.
    stale = AlertState.objects.create(project=project, rule=rule, slice_key="", slice={}, rule_version=rule.version)
    assert len(rule_evaluate(rule_id=rule.id, now=T)) == 1
    assert rule_evaluate(rule_id=rule.id, now=T) == []  # a second beat over the same data
    # An overlapping run that read the state before the first one wrote it loses the conditional UPDATE.
    assert (
        _transition(rule, stale, state="firing", started=T, value=0.5, samples=20, baseline={}, now=T, unit="%") is None
    )
    assert AlertFlip.objects.filter(rule=rule, to_state="firing").count() == 1
    assert Notification.objects.filter(flip__rule=rule).count() == 1


def test_a_failing_evaluation_is_retried_then_shown_on_the_rule(project, monkeypatch):
    rule = refusal_rule(project)
    calls = []

    def broken(**kwargs):
        calls.append(kwargs)
        raise RuntimeError("rollups unreadable")

    monkeypatch.setattr("apps.slis.services.rule_evaluate", broken)
    rule_evaluate_task.apply(args=[rule.id])
    assert len(calls) == 3  # the first run and two retries
    rule.refresh_from_db()
    assert "rollups unreadable" in rule.last_error and rule.last_error_at is not None


def test_muted_rules_and_silenced_alerts_record_transitions_but_notify_nobody(project):
    channel = Channel.objects.create(project=project, name="hook", kind="webhook", target="http://127.0.0.1:9/")
    traffic(project, at=T, n=20, refused=10, route="/a")
    traffic(project, at=T, n=20, refused=10, route="/b")
    traffic(project, at=T + timedelta(minutes=10), n=20, refused=0, route="/a")
    traffic(project, at=T + timedelta(minutes=10), n=20, refused=0, route="/b")
    settle()
    rule = refusal_rule(project, channels=[channel.id], group_by=["route"])
    AlertState.objects.create(
        project=project,
        rule=rule,
        slice_key="route=/b",
        slice={"route": "/b"},
        silenced_until=T + timedelta(hours=1),
    )
    assert {f.alert.slice_key for f in rule_evaluate(rule_id=rule.id, now=T)} == {"route=/a", "route=/b"}
    assert list(Notification.objects.values_list("flip__alert__slice_key", flat=True)) == ["route=/a"]
    rule.muted = True
    rule.save()
    assert len(rule_evaluate(rule_id=rule.id, now=T + timedelta(minutes=10))) == 2  # both resolve
    assert Notification.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_evaluations_make_each_transition_once(project):
    import threading

    from django.db import connection

    channel = Channel.objects.create(project=project, name="hook", kind="webhook", target="http://127.0.0.1:9/")
    traffic(project, at=T, n=20, refused=10, prompt_version="v1")
    traffic(project, at=T, n=20, refused=10, prompt_version="v2")
    settle()
    rule = refusal_rule(project, channels=[channel.id], group_by=["prompt_version"])
    barrier = threading.Barrier(4)
    errors = []

    def beat():
        try:
            barrier.wait()
            rule_evaluate(rule_id=rule.id, now=T)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(AlertFlip.objects.values_list("alert__slice_key", "to_state")) == [
        ("prompt_version=v1", "firing"),
        ("prompt_version=v2", "firing"),
    ]
    assert Notification.objects.count() == 2


def test_an_slo_rule_fires_on_a_fast_burn_and_says_how_fast(project):
    traffic(project, at=T - timedelta(hours=3), n=40, refused=0, route="/a")
    traffic(project, at=T, n=20, refused=4, route="/a")  # 20 % refusals against a 1 % budget: 20× in 5m and 1h
    traffic(project, at=T, n=20, refused=0, route="/b")
    settle()
    sli = sli_create_from_template(project=project, template="refusal_rate")
    rule = alert_rule_create(project=project, sli=sli, objective=0.99, min_samples=10, group_by=["route"])
    (flip,) = rule_evaluate(rule_id=rule.id, now=T)
    assert flip.alert.slice == {"route": "/a"} and flip.to_state == "firing"
    assert flip.value == pytest.approx(20.0)
    rates = flip.baseline["burn_rates"]
    assert rates["5m"] == pytest.approx(20.0) and rates["6h"] == pytest.approx(4 / 60 / 0.01)
    assert flip.message.startswith("Refusal rate burning its error budget at 20.0× for route=/a")
    assert "objective 99 % over 28d" in flip.message
    assert str(rule) == "Refusal rate SLO 99 % over 28d"


def test_slo_rules_need_a_rate_sli_and_a_fraction(admin_api_client, project):
    latency = admin_api_client.post("/api/v1/slis", {"template": "p95_latency"}, format="json").json()
    refusal = admin_api_client.post("/api/v1/slis", {"template": "refusal_rate"}, format="json").json()
    bad = admin_api_client.post("/api/v1/alert-rules", {"sli": latency["id"], "objective": 0.99}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "objective"
    bad = admin_api_client.post("/api/v1/alert-rules", {"sli": refusal["id"], "objective": 97}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "objective"
    bad = admin_api_client.post("/api/v1/alert-rules", {"sli": refusal["id"]}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "comparator"
    ok = admin_api_client.post(
        "/api/v1/alert-rules", {"sli": refusal["id"], "objective": 0.99, "slo_window": "7d"}, format="json"
    )
    assert ok.status_code == 201 and (ok.json()["objective"], ok.json()["slo_window"]) == (0.99, "7d")
