"""The overview in a real browser: charts drawn by plotly.js under the CSP, a time-range change, a group-by
change (htmx, the URL holds the state), and a click on a point through to the trace list."""

from __future__ import annotations

import os
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.dashboards.data import dashboard_traffic

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("SIGHTLINE_SCREENSHOTS", "")  # a directory, to look at the layout
QUALITY = "#panel-series-metric-resolved"
TRAFFIC = "#panel-series-group_by-none-metric-traces-stat-count"


def figure(page, panel: str) -> dict:
    return page.evaluate(
        "sel => JSON.parse(document.querySelector(sel + ' .plot').dataset.figure)",
        panel,
    )


def all_panels_loaded(page) -> None:
    expect(page.locator("[data-testid=panel]:not([data-loaded])")).to_have_count(0)
    expect(page.locator(f"{QUALITY} .plot[data-drawn] .main-svg").first).to_be_visible()


def test_overview_range_group_by_and_click_through_to_traces(page, login, alice, project):
    dashboard_traffic(project, now=timezone.now())
    login(alice)
    page.set_viewport_size({"width": 1440, "height": 900})

    page.goto("/")
    expect(page).to_have_url(re.compile(rf"/p/{project.slug}/$"))
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    all_panels_loaded(page)
    expect(page.locator(TRAFFIC)).to_contain_text("Traces")
    assert sum(figure(page, TRAFFIC)["data"][0]["y"]) == 7  # the last 24 hours
    expect(page.locator(QUALITY)).to_contain_text("higher is better")
    assert {t["name"] for t in figure(page, QUALITY)["data"]} == {"v1", "v2"}  # by prompt version by default
    expect(page.get_by_test_id("routes")).to_contain_text("/search")
    expect(page.get_by_test_id("failure-row")).to_have_count(3)
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/overview.png", full_page=True)

    # Time range: 7 days swaps the dashboard in place (htmx) and the URL records it.
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("7 d").check()
    expect(page).to_have_url(re.compile(r"[?&]range=7d(&|$)"))
    all_panels_loaded(page)
    assert sum(figure(page, TRAFFIC)["data"][0]["y"]) == 11  # now with the traffic of 3 days ago
    assert "from=" not in page.url  # a preset range keeps custom times out of the URL
    assert page.evaluate("window.__sameDocument") is True

    # Group by model: the quality chart splits by model; the shared URL reproduces the view.
    page.select_option("#f-group-by", "model")
    expect(page).to_have_url(re.compile(r"[?&]group_by=model(&|$)"))
    expect(page.locator(QUALITY)).to_contain_text("by model")
    all_panels_loaded(page)
    fig = figure(page, QUALITY)
    names = [t["name"] for t in fig["data"]]
    assert sorted(names) == ["m-1", "m-2"]
    assert page.evaluate("window.__sameDocument") is True

    # Click m-2's failing point: the trace list opens filtered to that bucket, that model and the failures.
    curve = names.index("m-2")
    ys = fig["data"][curve]["y"]
    index = max(i for i, y in enumerate(ys) if y is not None)  # the newest point: m-2 failing
    assert ys[index] == 0.0
    expected_rows = fig["data"][curve]["customdata"][index]  # every score there failed: one failing trace each
    point = page.locator(f"{QUALITY} .scatterlayer .trace").nth(curve).locator("path.point").last
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator(f"{QUALITY} .hoverlayer .hovertext")).to_contain_text("m-2")  # plotly clicks what it hovers
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page).to_have_url(re.compile(rf"/p/{project.slug}/traces/\?"))
    for part in ("model=m-2", "score=resolved%3Afailed", "since=", "until="):
        assert part in page.url
    expect(page.get_by_test_id("trace-row")).to_have_count(expected_rows)
    expect(page.locator("#f-model")).to_have_value("m-2")

    # Back to the shared URL: the same view, drawn again from the URL alone.
    page.go_back()
    expect(page).to_have_url(re.compile(r"group_by=model"))
    all_panels_loaded(page)
    expect(page.locator("#f-group-by")).to_have_value("model")


def test_explorer_metric_group_by_and_slice_selection(page, login, alice, project):
    dashboard_traffic(project, now=timezone.now())
    login(alice)
    page.set_viewport_size({"width": 1440, "height": 900})

    page.goto(f"/p/{project.slug}/metrics/?metric=resolved&range=7d")
    expect(page.get_by_test_id("metric-spec")).to_contain_text("higher is better")
    rows = page.get_by_test_id("slice-row")
    expect(rows).to_have_count(2)  # prompt versions v1 and v2
    expect(page.locator("[data-testid=panel] .plot[data-drawn] .main-svg").first).to_be_visible()

    # Choosing another metric and group-by swaps the dashboard in place and records both in the URL.
    page.evaluate("window.__sameDocument = true")
    page.select_option("#f-group-by", "route")
    expect(page).to_have_url(re.compile(r"[?&]group_by=route(&|$)"))
    expect(page.get_by_test_id("slices")).to_contain_text("Route")
    page.select_option("#f-metric", "errors")
    expect(page).to_have_url(re.compile(r"[?&]metric=errors(&|$)"))
    expect(page.get_by_test_id("metric-spec")).to_contain_text("lower is better")
    search = rows.filter(has_text="/search")
    expect(search).to_contain_text("100.0 %")  # error rate in %, never "ok 0 %"
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/explorer.png", full_page=True)

    # Selecting a slice narrows every filter to it, still without a reload.
    search.get_by_role("link", name="/search").click()
    expect(page).to_have_url(re.compile(r"[?&]route=%2Fsearch(&|$)"))
    expect(page.locator("#f-route")).to_have_value("/search")
    expect(rows).to_have_count(1)
    assert page.evaluate("window.__sameDocument") is True
