"""SLI and alerting pages: every page renders with data, admins write, viewers read, outsiders are refused."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from django.utils import timezone

from apps.slis.models import AlertRule, AlertState, Channel, Notification, Sli
from apps.slis.services import alert_rule_create, rule_evaluate, sli_create_from_template
from tests.slis.helpers import settle, traffic

pytestmark = pytest.mark.django_db


@pytest.fixture
def firing(project):
    """A refusal-rate rule per prompt version, firing on v2 (traffic within the last minutes)."""
    now = timezone.now()
    traffic(project, at=now - timedelta(minutes=2), n=12, refused=0, prompt_version="v1", route="/chat")
    traffic(project, at=now - timedelta(minutes=2), n=12, refused=6, prompt_version="v2", route="/chat")
    settle()
    sli = sli_create_from_template(project=project, template="refusal_rate")
    rule = alert_rule_create(project=project, sli=sli, comparator=">", threshold=0.05, group_by=["prompt_version"])
    rule_evaluate(rule_id=rule.id, now=now)
    return AlertState.objects.get(rule=rule, state="firing")


def test_every_page_renders_the_alert_and_its_slice(client, alice, project, firing):
    client.force_login(alice)
    slug = project.slug
    rule = firing.rule
    pages = {
        f"/p/{slug}/slis/": ["Refusal rate", "25 %", "prompt_version=v2", "50 %", 'data-kind="sli"', "firing 1"],
        f"/p/{slug}/slis/new/": ["Grounding rate", "p95 latency"],
        f"/p/{slug}/slis/{rule.sli_id}/": ["Refusal rate", "prompt_version=v1", "Preview (last 7 days)"],
        f"/p/{slug}/alert-rules/{rule.id}/": ["prompt_version=v2", "firing", "Edit"],
        f"/p/{slug}/alerts/": ["Refusal rate", "prompt_version=v2", "0 % on prompt_version=v1 over the last 24 h"],
        f"/p/{slug}/alerts/{firing.id}/": [
            "50 %",
            "prompt_version=v2",
            "score=refusal%3Afailed",
            "Acknowledge",
            "No notifications (no channel",
        ],
        f"/p/{slug}/channels/": ["Add a channel", "No deliveries yet"],
    }
    for url, texts in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        for text in texts:
            assert text in body, (url, text)


def test_template_click_rule_form_preview_mute_ack_and_silence(client, alice, project, firing):
    client.force_login(alice)
    slug = project.slug
    response = client.post(f"/p/{slug}/slis/new/", {"template": "p95_latency"})
    sli = Sli.objects.get(project=project, template="p95_latency")
    assert response.status_code == 302 and response.url == f"/p/{slug}/slis/{sli.id}/"
    form = {"comparator": ">", "threshold": "1", "window": "5m", "min_samples": "1", "for_duration": "0m"}
    preview = client.post(f"/p/{slug}/slis/{sli.id}/rules/preview/", form, HTTP_HX_REQUEST="true")
    assert preview.status_code == 200 and b'ok</span> \xe2\x86\x92 <span class="badge firing' in preview.content
    bad = client.post(f"/p/{slug}/slis/{sli.id}/rules/new/", {**form, "window": "soon"})
    assert bad.status_code == 400 and b'data-field="window"' in bad.content
    created = client.post(f"/p/{slug}/slis/{sli.id}/rules/new/", {**form, "group_by": ["route"]})
    rule = AlertRule.objects.get(sli=sli)
    assert created.status_code == 302 and rule.group_by == ["route"]
    client.post(f"/p/{slug}/alert-rules/{rule.id}/mute/", {"muted": "1"})
    assert AlertRule.objects.get(id=rule.id).muted
    edited = client.post(f"/p/{slug}/alert-rules/{rule.id}/", {**form, "threshold": "2"})
    assert edited.status_code == 302 and AlertRule.objects.get(id=rule.id).version == 2
    client.post(f"/p/{slug}/alerts/{firing.id}/ack/")
    client.post(f"/p/{slug}/alerts/{firing.id}/silence/", {"hours": "4"})
    firing.refresh_from_db()
    assert firing.acknowledged_by == "alice" and firing.silenced_until > timezone.now() + timedelta(hours=3)


def test_channels_page_adds_a_channel_and_sends_a_test(client, alice, project, settings):
    settings.ALERT_ALLOWED_HOSTS = ["127.0.0.1"]
    client.force_login(alice)
    url = f"/p/{project.slug}/channels/"
    refused = client.post(url, {"name": "x", "kind": "webhook", "target": "http://10.1.2.3/hook"})
    assert refused.status_code == 400 and b"private" in refused.content
    added = client.post(url, {"name": "hook", "kind": "webhook", "target": "http://127.0.0.1:9/hook"})
    channel = Channel.objects.get(name="hook")
    assert added.status_code == 200 and channel.secret.encode() in added.content
    client.post(f"/p/{project.slug}/channels/{channel.id}/test/")
    assert Notification.objects.filter(channel=channel, is_test=True).count() == 1


def test_viewers_read_but_do_not_write_and_outsiders_see_nothing(client, bob, carol, project, firing):
    slug = project.slug
    client.force_login(bob)
    assert client.get(f"/p/{slug}/slis/").status_code == 200
    assert client.post(f"/p/{slug}/slis/new/", {"template": "error_rate"}).status_code == 403
    assert client.post(f"/p/{slug}/alerts/{firing.id}/ack/").status_code == 403
    assert client.post(f"/p/{slug}/channels/", {"name": "x", "kind": "email", "target": "a@b.co"}).status_code == 403
    client.force_login(carol)
    assert client.get(f"/p/{slug}/slis/").status_code in (403, 404)
    assert client.get(f"/p/{slug}/alerts/{firing.id}/").status_code in (403, 404)


def test_selectors_for_dashboards(project, firing):
    from apps.slis.selectors import alert_list, sli_series, sli_value_now

    sli = firing.rule.sli
    now_values = sli_value_now(project=project, sli=sli, window="1h", group_by=["prompt_version"])
    assert {v.group["prompt_version"]: v.value for v in now_values} == {"v1": 0.0, "v2": 0.5}
    end = timezone.now() + timedelta(minutes=1)
    (series,) = sli_series(project=project, sli=sli, start=end - timedelta(hours=2), end=end, interval="1h")
    assert sum(n for _, _, n in series.points) == 24
    assert [a.state for a in alert_list(project=project)][0] == "firing"
    assert datetime.now(UTC) >= firing.since


def test_the_sli_page_charts_the_chosen_range_and_the_rule_page_shows_a_failed_evaluation(
    client, alice, project, firing
):
    from apps.slis.services import rule_evaluation_failed

    client.force_login(alice)
    sli = firing.rule.sli
    for range_name in ("24h", "7d", "30d"):
        body = client.get(f"/p/{project.slug}/slis/{sli.id}/?range={range_name}").content.decode()
        # the charts are panels (apps/dashboards/sli_panels.py): all traffic first, then by the rule's slices
        urls = [unescape(u) for u in re.findall(r'hx-get="(/p/[^"]+/panels/sli/[^"]+)"', body)]
        assert len(urls) == 2 and all(f"range={range_name}" in u for u in urls)
        panel = client.get(urls[0], HTTP_HX_REQUEST="true").content.decode()
        figure = json.loads(unescape(re.search(r'data-figure="([^"]+)"', panel).group(1)))
        assert [[y for y in t["y"] if y is not None] for t in figure["data"]] == [[25.0]]
    rule_evaluation_failed(rule_id=firing.rule_id, error="OperationalError: the database went away")
    body = client.get(f"/p/{project.slug}/alert-rules/{firing.rule_id}/").content.decode()
    assert "Evaluation failed at" in body and "the database went away" in body


def test_the_alert_page_lists_its_deliveries(client, alice, project, firing):
    from apps.slis.models import AlertFlip

    channel = Channel.objects.create(project=project, name="pager-hook", kind="webhook", target="http://127.0.0.1:9/")
    flip = AlertFlip.objects.get(alert=firing, to_state="firing")
    Notification.objects.create(
        project=project,
        flip=flip,
        channel=channel,
        payload={"state": "firing"},
        status="failed",
        attempts=6,
        error="HTTP 500: receiver down",
    )
    client.force_login(alice)
    body = client.get(f"/p/{project.slug}/alerts/{firing.id}/").content.decode()
    assert "pager-hook" in body and "HTTP 500: receiver down" in body and "No notifications" not in body
