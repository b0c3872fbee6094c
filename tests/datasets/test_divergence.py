"""Offline vs online: the divergence against values worked out by hand, its flag, its panels and page, its SLI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.datasets.divergence import divergence_list
from apps.datasets.models import OfflineMetric
from apps.datasets.offline import MetricInput, offline_run_create
from apps.scores.rollups import HOUR, floor_time
from apps.slis.models import AlertState
from apps.slis.selectors import sli_series, sli_values
from apps.slis.services import alert_rule_create, rule_evaluate, sli_create
from tests.datasets.helpers import two_versions

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    """The start of an hour at least 30 minutes ago: the traffic sits at :20 of it and of the 3 hours before."""
    return floor_time(timezone.now() - timedelta(minutes=30), HOUR)


@pytest.fixture
def versions(project, now):
    return two_versions(project, now=now)


def test_the_divergence_matches_the_hand_computed_gap_and_flags_only_a_persistent_one(project, now, versions):
    end = now + timedelta(hours=1)
    items = divergence_list(project=project, start=end - timedelta(hours=24), end=end, interval="1h")
    by_version = {i.prompt_version: i for i in items}
    v1, v2 = by_version["v1"], by_version["v2"]
    assert [p.online for p in v1.points] == [pytest.approx(0.6)] * 4
    assert [p.offline for p in v1.points] == [0.9] * 4
    assert [p.gap for p in v1.points] == [pytest.approx(0.3)] * 4
    assert [p.samples for p in v1.points] == [5] * 4
    assert [p.gap for p in v2.points] == [pytest.approx(-0.05)] * 4
    assert (v1.flagged, v1.behind, v2.flagged) == (True, True, False)
    assert items[0] is v1  # flagged first
    # Three buckets make it persistent; the same gap over two buckets does not.
    short = divergence_list(
        project=project, start=end - timedelta(hours=2), end=end, interval="1h", prompt_version="v1"
    )
    assert len(short[0].points) == 2 and not short[0].flagged
    # A wider threshold does not flag it either.
    wide = divergence_list(project=project, start=end - timedelta(hours=24), end=end, interval="1h", threshold=0.35)
    assert not any(i.flagged for i in wide)


def test_a_later_offline_run_counts_from_when_it_was_measured(project, now, versions):
    end = now + timedelta(hours=1)
    run = offline_run_create(
        project=project, name="fixed suite", model="m-1", prompt_version="v1", metrics=[MetricInput("resolved", 0.62)]
    )
    OfflineMetric.objects.filter(run=run).update(measured_at=end - timedelta(hours=1, minutes=45))
    [v1] = divergence_list(
        project=project, start=end - timedelta(hours=24), end=end, interval="1h", prompt_version="v1"
    )
    assert [p.offline for p in v1.points] == [0.9, 0.9, 0.62, 0.62]
    assert not v1.flagged  # the last two buckets are within 2 points


def test_an_offline_gap_sli_and_its_alert_rule(project, now, versions):
    sli = sli_create(project=project, name="resolved offline gap", metric="resolved", aggregation="offline_gap")
    end = now + timedelta(hours=1)
    values = {
        v.group["prompt_version"]: v
        for v in sli_values(
            project=project, sli=sli, start=end - timedelta(hours=6), end=end, group_by=["prompt_version"]
        )
    }
    assert values["v1"].value == pytest.approx(0.3) and values["v1"].samples == 20
    assert values["v2"].value == pytest.approx(-0.05)
    series = sli_series(
        project=project, sli=sli, start=end - timedelta(hours=24), end=end, interval="1h", group_by=["prompt_version"]
    )
    assert {s.group["prompt_version"]: len(s.points) for s in series} == {"v1": 4, "v2": 4}
    rule = alert_rule_create(
        project=project,
        sli=sli,
        comparator=">",
        threshold=0.1,
        window="6h",
        min_samples=10,
        group_by=["prompt_version"],
    )
    rule_evaluate(rule_id=rule.id, now=now + timedelta(minutes=59))
    states = dict(AlertState.objects.filter(rule=rule).values_list("slice__prompt_version", "state"))
    assert states == {"v1": "firing", "v2": "ok"}


def test_an_offline_gap_of_a_count_is_refused(project):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        sli_create(project=project, name="x", metric="traces", aggregation="offline_gap")
    assert "aggregation" in exc.value.message_dict


def test_the_panel_the_page_and_the_overview(client, alice, project, now, versions):
    client.force_login(alice)
    panel = client.get(f"/p/{project.slug}/panels/divergence/?range=24h")
    assert panel.status_code == 200
    html = panel.content.decode()
    assert "the offline suite has fallen behind production" in html
    assert html.count('data-testid="divergence-row"') == 2
    assert f"/p/{project.slug}/datasets/new/?verdict=fail&amp;prompt_version=v1&amp;model=m-1" in html
    chart = client.get(f"/p/{project.slug}/panels/divergence_chart/?range=24h&metric=resolved")
    assert chart.status_code == 200 and 'data-testid="plot"' in chart.content.decode()
    page = client.get(f"/p/{project.slug}/divergence/")
    assert page.status_code == 200 and "divergence_chart" in page.content.decode()
    overview = client.get(f"/p/{project.slug}/")
    assert 'data-kind="divergence"' in overview.content.decode()
    for bad in ("threshold=2", "threshold=abc", "persist=0"):
        response = client.get(f"/p/{project.slug}/panels/divergence/?range=24h&{bad}")
        assert response.status_code == 400 and bad.split("=")[0] in response.content.decode()
    assert client.get(f"/p/{project.slug}/divergence/?persist=x").status_code == 400
