"""SLI charts on the panel framework: the SLI pages place `sli` panels; the panel draws the SLI per slice with its
rules' thresholds, from the rollups; a bad parameter is a 400 naming it."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.utils import timezone

from apps.slis.services import alert_rule_create, sli_create_from_template
from tests.slis.helpers import settle, traffic

pytestmark = pytest.mark.django_db


@pytest.fixture
def sli(project):
    """A refusal-rate SLI (a fail rate) sliced by prompt version: v1 0 %, v2 50 %, and a 5 % threshold rule."""
    now = timezone.now()
    traffic(project, at=now - timedelta(minutes=2), n=8, refused=0, prompt_version="v1")
    traffic(project, at=now - timedelta(minutes=2), n=8, refused=4, prompt_version="v2")
    settle()
    sli = sli_create_from_template(project=project, template="refusal_rate")
    alert_rule_create(project=project, sli=sli, comparator=">", threshold=0.05, group_by=["prompt_version"])
    return sli


def _panel_urls(body: str) -> list[str]:
    return [unescape(u) for u in re.findall(r'hx-get="(/p/[^"]+/panels/sli/[^"]+)"', body)]


def _figure(body: str) -> dict:
    return json.loads(unescape(re.search(r'data-figure="([^"]+)"', body).group(1)))


def test_the_sli_page_places_panels_that_draw_each_slice_and_the_threshold(client, alice, project, sli):
    client.force_login(alice)
    page = client.get(f"/p/{project.slug}/slis/{sli.id}/?range=7d")
    assert page.status_code == 200
    body = page.content.decode()
    assert "<polyline" not in body and "plotly.min.js" in body
    urls = _panel_urls(body)
    assert len(urls) == 2  # all traffic, and by the rule's slices
    assert all("range=7d" in u and f"sli={sli.id}" in u for u in urls)
    by_slice = next(u for u in urls if "slice_by=prompt_version" in u)
    panel = client.get(by_slice, HTTP_HX_REQUEST="true")
    assert panel.status_code == 200
    figure = _figure(panel.content.decode())
    lines = {t["name"]: [y for y in t["y"] if y is not None] for t in figure["data"]}
    assert lines == {"v1": [0.0], "v2": [50.0]}  # the fail rate in %, as the SLI is
    threshold = [s for s in figure["layout"]["shapes"] if s["type"] == "line"]
    assert [s["y0"] for s in threshold] == [5.0]
    assert figure["layout"]["xaxis"]["title"]["text"] == "UTC"


def test_the_sli_list_places_a_compact_panel_per_sli(client, alice, project, sli):
    client.force_login(alice)
    body = client.get(f"/p/{project.slug}/slis/").content.decode()
    (url,) = _panel_urls(body)
    assert "size=compact" in url and "slice_by=prompt_version" in url and "range=24h" in url
    figure = _figure(client.get(url, HTTP_HX_REQUEST="true").content.decode())
    assert figure["layout"]["height"] == 90 and figure["layout"]["showlegend"] is False
    assert len(figure["data"]) == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [("", "sli"), ("sli=abc", "sli"), ("sli=999999", "sli"), ("sli={id}&slice_by=colour", "slice_by")],
)
def test_bad_panel_parameters_are_400_naming_the_field(client, alice, project, sli, query, field):
    client.force_login(alice)
    response = client.get(f"/p/{project.slug}/panels/sli/?" + query.format(id=sli.id), HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert f"{field}:" in response.content.decode()
