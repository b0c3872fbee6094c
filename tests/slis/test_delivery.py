"""Deliveries: a signed webhook to a local receiver, retries with backoff, SSRF at send time, Slack, email,
"Send test", and the prune of delivered rows."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.core.jobs import Outcome
from apps.slis.models import AlertFlip, AlertState, Channel, Notification
from apps.slis.services import (
    alert_rule_create,
    channel_create,
    channel_test_send,
    notification_backoff,
    notification_deliver,
    notifications_prune,
    sli_create_from_template,
)
from tests.slis.helpers import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert_hosts(settings):
    settings.ALERT_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.ALERT_DELIVERY_BACKOFF_SECONDS = 0
    return settings


def firing_notification(project, channel) -> Notification:
    """A firing transition of a refusal rule on prompt_version=v14, queued to the channel."""
    from apps.slis.services import _transition

    sli = sli_create_from_template(project=project, template="refusal_rate")
    rule = alert_rule_create(
        project=project,
        sli=sli,
        comparator=">",
        threshold=0.05,
        group_by=["prompt_version"],
        channels=[channel.id],
    )
    alert = AlertState.objects.create(
        project=project, rule=rule, slice_key="prompt_version=v14", slice={"prompt_version": "v14"}
    )
    baseline = {"kind": "predecessor", "value": 0.021, "description": "2.1 % on prompt_version=v13"}
    now = timezone.now()
    _transition(rule, alert, state="firing", started=now, value=0.118, samples=40, baseline=baseline, now=now, unit="%")
    return Notification.objects.get(flip__alert=alert, channel=channel)


def test_a_receiver_that_fails_twice_then_succeeds_gets_exactly_one_notification(project, alert_hosts):
    with Receiver([500, 503]) as receiver:
        channel = channel_create(project=project, name="hook", kind="webhook", target=receiver.url)
        notification = firing_notification(project, channel)
        retries = []
        for _ in range(5):  # the worker's attempts; the later ones find the row delivered
            claim, retry_in = notification_deliver(notification_id=notification.id)
            retries.append((claim.outcome, retry_in))
        assert [r["status"] for r in receiver.requests] == [500, 503, 200]
        assert len(receiver.delivered) == 1
    assert retries[:3] == [(Outcome.CLAIMED, 0.0), (Outcome.CLAIMED, 0.0), (Outcome.CLAIMED, None)]
    assert [r[0] for r in retries[3:]] == [Outcome.GONE, Outcome.GONE]
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.response_status) == ("done", 3, 200)
    body = receiver.requests[-1]["body"]
    expected = "sha256=" + hmac.new(channel.secret.encode(), body, hashlib.sha256).hexdigest()
    assert receiver.requests[-1]["headers"]["X-Sightline-Signature"] == expected
    payload = json.loads(body)
    assert {
        "rule",
        "sli",
        "state",
        "slice",
        "value",
        "threshold",
        "samples",
        "window",
        "baseline",
        "started_at",
        "url",
    } <= set(payload)
    assert payload["state"] == "firing" and payload["slice"] == {"prompt_version": "v14"}
    assert (payload["value"], payload["threshold"], payload["samples"], payload["window"]) == (0.118, 0.05, 40, "5m")
    assert payload["baseline"]["value"] == 0.021
    assert payload["url"].endswith(f"/alerts/{notification.flip.alert_id}/")
    assert "prompt_version=v14" in payload["message"]


def test_backoff_doubles_and_is_capped(settings):
    settings.ALERT_DELIVERY_BACKOFF_SECONDS = 5
    settings.ALERT_DELIVERY_BACKOFF_CAP_SECONDS = 60
    assert [notification_backoff(n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


def test_attempts_are_capped_then_the_delivery_is_failed(project, alert_hosts):
    alert_hosts.ALERT_DELIVERY_MAX_ATTEMPTS = 2
    with Receiver([500, 500, 500]) as receiver:
        channel = channel_create(project=project, name="hook", kind="webhook", target=receiver.url)
        notification = firing_notification(project, channel)
        notification_deliver(notification_id=notification.id)
        notification_deliver(notification_id=notification.id)
        assert notification_deliver(notification_id=notification.id)[0].outcome is Outcome.GONE
        assert len(receiver.requests) == 2
    notification.refresh_from_db()
    assert notification.status == "failed" and "HTTP 500" in notification.error


def test_redirects_are_not_followed(project, alert_hosts):
    with Receiver([302]) as receiver:
        channel = channel_create(project=project, name="hook", kind="webhook", target=receiver.url)
        notification = firing_notification(project, channel)
        notification_deliver(notification_id=notification.id)
        assert len(receiver.requests) == 1
    notification.refresh_from_db()
    assert notification.status == "failed" and "redirect" in notification.error


def test_a_target_no_longer_allowed_is_refused_when_sending(project, alert_hosts):
    with Receiver() as receiver:
        channel = channel_create(project=project, name="hook", kind="webhook", target=receiver.url)
        notification = firing_notification(project, channel)
        alert_hosts.ALERT_ALLOWED_HOSTS = []
        notification_deliver(notification_id=notification.id)
        assert receiver.requests == []
    notification.refresh_from_db()
    assert notification.status == "failed" and "loopback" in notification.error


def test_slack_and_email_channels(project, alert_hosts):
    with Receiver() as receiver:
        slack = channel_create(project=project, name="slack", kind="slack", target=receiver.url)
        notification = firing_notification(project, slack)
        notification_deliver(notification_id=notification.id)
        (text,) = [json.loads(r["body"])["text"] for r in receiver.requests]
    assert "firing" in text and "prompt_version=v14" in text
    email = channel_create(project=project, name="mail", kind="email", target="oncall@example.com")
    test = channel_test_send(channel=email)
    notification_deliver(notification_id=test.id)
    assert mail.outbox[-1].to == ["oncall@example.com"] and "Test notification" in mail.outbox[-1].body
    test.refresh_from_db()
    assert test.status == "done" and test.is_test


def test_the_hourly_prune_deletes_delivered_notifications_only(project, alert_hosts):
    channel = Channel.objects.create(project=project, name="c", kind="email", target="a@example.com")
    old = timezone.now() - timedelta(days=8)
    rows = {
        status: Notification.objects.create(project=project, channel=channel, status=status, is_test=True)
        for status in ("done", "failed", "pending")
    }
    Notification.objects.filter(id__in=[n.id for n in rows.values()]).update(created_at=old)
    recent = Notification.objects.create(project=project, channel=channel, status="done", is_test=True)
    assert notifications_prune() == 1
    assert set(Notification.objects.values_list("id", flat=True)) == {
        rows["failed"].id,
        rows["pending"].id,
        recent.id,
    }
    assert AlertFlip.objects.count() == 0
