"""SLI charts in a real browser: the SLI list and the SLI page draw their charts with plotly.js as panels (no
hand-made SVG), per slice with the rule's threshold, and a range change redraws them."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.slis.services import alert_rule_create, sli_create_from_template
from tests.slis.helpers import settle, traffic

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("SIGHTLINE_SCREENSHOTS", "")


def figures(page) -> list[dict]:
    return page.evaluate(
        "() => Array.from(document.querySelectorAll('[data-kind=sli] .plot')).map(e => JSON.parse(e.dataset.figure))"
    )


def test_sli_list_and_page_draw_plotly_panels_per_slice_with_the_threshold(page, login, alice, project):
    now = timezone.now()
    traffic(project, at=now - timedelta(days=3), n=8, refused=0, prompt_version="v1")
    traffic(project, at=now - timedelta(minutes=3), n=8, refused=0, prompt_version="v1")
    traffic(project, at=now - timedelta(minutes=3), n=8, refused=4, prompt_version="v2")
    settle()
    sli = sli_create_from_template(project=project, template="refusal_rate")
    alert_rule_create(project=project, sli=sli, comparator=">", threshold=0.05, group_by=["prompt_version"])
    login(alice)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(f"/p/{project.slug}/slis/")
    row = page.get_by_test_id("sli-row")
    expect(row.locator("[data-kind=sli] .plot[data-drawn] .main-svg").first).to_be_visible()
    expect(page.locator("svg.spark")).to_have_count(0)
    (compact,) = figures(page)
    assert {t["name"] for t in compact["data"]} == {"v1", "v2"}
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/sli_list.png", full_page=True)

    row.get_by_role("link", name="Refusal rate").click()
    expect(page.get_by_test_id("sli-name")).to_have_text("Refusal rate")
    panels = page.get_by_test_id("sli-chart").locator("[data-kind=sli]")
    expect(panels).to_have_count(2)
    expect(panels.locator(".plot[data-drawn]")).to_have_count(2)
    expect(panels.nth(0)).to_contain_text("all traffic")
    expect(panels.nth(1)).to_contain_text("by prompt version")
    whole, by_slice = figures(page)
    assert [[y for y in t["y"] if y is not None] for t in whole["data"]] == [[25.0]]  # the last 24 h only
    assert {t["name"]: [y for y in t["y"] if y is not None] for t in by_slice["data"]} == {"v1": [0.0], "v2": [50.0]}
    assert [s["y0"] for s in by_slice["layout"]["shapes"]] == [5.0]  # the rule's 5 % threshold
    expect(panels.nth(1).locator(".shapelayer path").first).to_be_attached()  # drawn, not just declared
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/sli_detail.png", full_page=True)

    # 7 days: the charts load again for the wider range, now with the traffic of 3 days ago.
    page.get_by_label("Range").select_option("7d")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"[?&]range=7d(&|$)"))
    expect(panels.locator(".plot[data-drawn]")).to_have_count(2)
    whole, _ = figures(page)
    assert sorted(y for y in whole["data"][0]["y"] if y is not None) == [0.0, 25.0]
