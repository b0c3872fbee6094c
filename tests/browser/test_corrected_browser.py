"""A judged metric in the explorer, in a real browser: plotly draws the raw judge rate, the bias-corrected rate
and the shaded 95 % interval between its bounds."""

from __future__ import annotations

import os
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from tests.scores.calibration_data import HOUR, METRIC, calibrated_hour, judged_evaluator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = os.environ.get("SIGHTLINE_SCREENSHOTS", "")


def test_explorer_chart_shows_raw_corrected_and_the_interval(page, login, alice, project):
    judged_evaluator(project)
    calibrated_hour(project)
    # the next hour too, so the lines join two points and the band has an area
    calibrated_hour(project, start=HOUR + timedelta(hours=1))
    login(alice)
    page.set_viewport_size({"width": 1440, "height": 900})
    query = {
        "metric": METRIC,
        "range": "custom",
        "from": HOUR.isoformat(),
        "to": (HOUR + timedelta(hours=2)).isoformat(),
        "interval": "1h",
        "group_by": "none",
    }
    page.goto(f"/p/{project.slug}/metrics/?{urlencode(query)}")
    chart = page.locator("[data-testid=panel][data-kind=series]")
    expect(chart).to_contain_text("16 labeled random-sample traces")
    expect(chart.locator(".plot[data-drawn] .main-svg").first).to_be_visible()

    # What plotly.js drew (the element's live data, not the JSON we sent): the band, then both lines.
    drawn = chart.locator(".plot").evaluate(
        "el => el.data.map(t => ({name: t.name, fill: t.fill || '', y: t.y, visible: t.visible}))"
    )
    assert [t["name"] for t in drawn] == ["95 % interval", "95 % interval", "corrected", "judge (raw)"]
    assert drawn[1]["fill"] == "tonexty"
    ys = {t["name"]: [y for y in t["y"] if y is not None] for t in drawn[2:]}
    assert ys["judge (raw)"] == [pytest.approx(75.0), pytest.approx(75.0)]
    assert ys["corrected"] == [pytest.approx(50.0), pytest.approx(50.0)]
    low, high = [y for y in drawn[1]["y"] if y is not None], [y for y in drawn[0]["y"] if y is not None]
    assert all(lo < 50.0 < hi for lo, hi in zip(low, high, strict=True))

    # On screen: the legend names all three, and the shaded area is a filled path in the plot.
    legend = chart.locator(".legend")
    for name in ("corrected", "judge (raw)", "95 % interval"):
        expect(legend).to_contain_text(name)
    fills = chart.locator(".scatterlayer .trace .fills path")
    expect(fills.first).to_be_attached()
    assert "fill-opacity: 0.18" in (fills.first.get_attribute("style") or "")
    assert len(fills.first.get_attribute("d") or "") > 10  # a real shape, not an empty path
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/corrected.png", full_page=True)
