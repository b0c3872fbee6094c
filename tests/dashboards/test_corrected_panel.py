"""A judged metric's chart: the raw judge rate, the bias-corrected rate and its 95 % interval, side by side."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.review.models import ReviewItem
from tests.dashboards.test_views import figure, panel
from tests.scores.calibration_data import HOUR, METRIC, calibrated_hour, judged_evaluator

pytestmark = pytest.mark.django_db
CUSTOM = {"range": "custom", "from": HOUR.isoformat(), "to": (HOUR + timedelta(hours=1)).isoformat()}


@pytest.fixture
def calibrated(project):
    judged_evaluator(project)
    return calibrated_hour(project)


def test_judged_panel_draws_raw_corrected_and_the_interval(client, alice, project, calibrated):
    client.force_login(alice)
    url, params = panel(project, "series", metric=METRIC, group_by="none", interval="1h", **CUSTOM)
    response = client.get(url, params)
    assert response.status_code == 200
    html = response.content.decode()
    assert "8 labeled random-sample traces" in html
    fig = figure(response)
    names = [t["name"] for t in fig["data"]]
    assert names == ["95 % interval", "95 % interval", "corrected", "judge (raw)"]
    by_name = {t["name"]: t for t in fig["data"][2:]}
    [raw] = [y for y in by_name["judge (raw)"]["y"] if y is not None]
    [corrected] = [y for y in by_name["corrected"]["y"] if y is not None]
    assert (raw, corrected) == (pytest.approx(75.0), pytest.approx(50.0))
    assert [t for t in by_name["corrected"]["text"] if t] == ["95 % interval 15.2–84.8 %"]  # in the hover too
    high, low = fig["data"][0], fig["data"][1]
    assert low["fill"] == "tonexty"
    assert [y for y in high["y"] if y is not None] == [pytest.approx(84.7708, abs=1e-3)]
    assert [y for y in low["y"] if y is not None] == [pytest.approx(15.2292, abs=1e-3)]
    assert fig["layout"]["meta"]["links"][:2] == ["", ""]  # the shaded area opens nothing; the lines do
    assert "score=helpfulness" in fig["layout"]["meta"]["links"][2]


def test_without_labels_the_panel_says_how_many_it_needs(client, alice, project, calibrated):
    ReviewItem.objects.filter(project=project).delete()
    client.force_login(alice)
    url, params = panel(project, "series", metric=METRIC, group_by="none", interval="1h", **CUSTOM)
    html = client.get(url, params).content.decode()
    assert "0 labeled, 2 needed" in html
    fig = figure(client.get(url, params))
    by_name = {t["name"]: t for t in fig["data"]}
    assert all(y is None for y in by_name["corrected"]["y"])
    assert any(y is not None for y in by_name["judge (raw)"]["y"])


def test_a_programmatic_metric_keeps_its_single_line(client, alice, project, calibrated):
    client.force_login(alice)
    url, params = panel(project, "series", metric="traces", stat="count", group_by="none", **CUSTOM)
    assert [t["name"] for t in figure(client.get(url, params))["data"]] == ["all"]
