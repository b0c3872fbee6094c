"""The overview (the project's home), the metric explorer and the panel fragments: content, htmx, bad input."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.dashboards.panels import PanelContent, panel_register
from apps.projects.services import project_create
from apps.scores.rollups import floor_time
from tests.dashboards.data import dashboard_traffic

pytestmark = pytest.mark.django_db


@pytest.fixture
def traffic(project):
    return dashboard_traffic(project, now=timezone.now())


def overview(project):
    return f"/p/{project.slug}/"


def panel(project, kind, **params):
    return f"/p/{project.slug}/panels/{kind}/", params


def figure(response) -> dict:
    html = response.content.decode()
    match = re.search(r'<div class="plot" data-figure="([^"]+)"', html)
    assert match, html
    return json.loads(unescape(match.group(1)))


def test_home_opens_the_first_projects_overview(client, alice, project):
    client.force_login(alice)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == overview(project)


def test_overview_places_every_panel_and_a_quality_panel_per_metric(client, alice, project, traffic):
    client.force_login(alice)
    response = client.get(overview(project))
    assert response.status_code == 200
    html = response.content.decode()
    for title in (
        "Traffic",
        "Error rate",
        "Latency p50 / p95",
        "Tokens",
        "Cost",
        "resolved pass rate",
        "Top failing routes",
        "Latest failed scores",
    ):
        assert title in html
    # Placeholders load themselves, carrying the whole state and their own parameters.
    urls = re.findall(r'hx-get="(/p/[^"]+/panels/[^"]+)"', html)
    resolved = next(u for u in urls if "metric=resolved" in u)
    query = parse_qs(urlsplit(resolved.replace("&amp;", "&")).query)
    assert query["range"] == ["24h"] and query["group_by"] == ["prompt_version"]
    assert 'src="/static/sightline/plotly.min.js"' in html and "<script>" not in html  # no inline script
    assert "Trace list" in html and f"/p/{project.slug}/traces/" in html  # the trace list keeps its own URL


def test_overview_of_a_project_without_traces_leads_to_onboarding(client, alice):
    empty = project_create(name="Empty", owner=alice)
    client.force_login(alice)
    response = client.get(overview(empty))
    assert response.status_code == 302
    assert response["Location"] == reverse("traces:onboarding", args=[empty.slug])
    # With a time range chosen (a shared link), the page itself answers and says there is nothing yet.
    response = client.get(overview(empty) + "?range=24h")
    assert response.status_code == 200
    assert 'data-testid="no-traces"' in response.content.decode()


def test_quality_panel_splits_by_prompt_version_and_links_to_failing_traces(client, alice, project, traffic):
    client.force_login(alice)
    url, params = panel(project, "series", metric="resolved", range="24h", group_by="prompt_version")
    response = client.get(url, params)
    assert response.status_code == 200
    fig = figure(response)
    by_name = {t["name"]: t for t in fig["data"]}
    assert set(by_name) == {"v1", "v2"}
    assert max(y for y in by_name["v1"]["y"] if y is not None) == 100.0
    assert max(y for y in by_name["v2"]["y"] if y is not None) == 0.0
    assert fig["layout"]["yaxis"]["ticksuffix"] == " %"
    link = fig["layout"]["meta"]["links"][list(by_name).index("v2")]
    assert parse_qs(urlsplit(link).query) == {"prompt_version": ["v2"], "score": ["resolved:failed"]}
    assert "higher is better" in response.content.decode()


def test_ops_panels_are_totals_with_their_units(client, alice, project, traffic):
    client.force_login(alice)
    url, params = panel(project, "series", metric="traces", stat="count", group_by="none", range="24h")
    fig = figure(client.get(url, params))
    assert [t["type"] for t in fig["data"]] == ["bar"] and sum(fig["data"][0]["y"]) == 7
    url, params = panel(project, "series", metric="latency_ms", stat="quantiles", group_by="none", range="7d")
    fig = figure(client.get(url, params))
    assert [t["name"] for t in fig["data"]] == ["p50", "p95"] and fig["layout"]["yaxis"]["ticksuffix"] == " ms"
    url, params = panel(project, "series", metric="errors", group_by="none", range="24h")
    fig = figure(client.get(url, params))
    assert "status=error" in fig["layout"]["meta"]["links"][0]


def test_time_range_changes_what_a_panel_counts(client, alice, project, traffic):
    client.force_login(alice)
    counts = {}
    for range_ in ("1h", "24h", "7d"):
        url, params = panel(project, "series", metric="traces", stat="count", group_by="none", range=range_)
        counts[range_] = sum(figure(client.get(url, params))["data"][0]["y"])
    assert counts == {"1h": 7, "24h": 7, "7d": 11}
    url, params = panel(project, "series", metric="traces", stat="count", group_by="none", range="7d", interval="1d")
    daily = figure(client.get(url, params))["data"][0]
    assert len(daily["x"]) == 7 and sum(daily["y"]) == 11  # the interval picker: 7 day buckets, same traffic
    page = client.get(overview(project), {"range": "7d", "interval": "1d"}).content.decode()
    assert '<option value="1d" selected>' in page


def test_tables_list_failing_routes_and_latest_failed_scores(client, alice, project, traffic):
    client.force_login(alice)
    url, params = panel(project, "routes", range="24h")
    html = client.get(url, params).content.decode()
    assert html.count('data-testid="route-row"') == 2
    assert html.index("/chat") < html.index("/search")  # 3 failed verdicts before 1 error
    url, params = panel(project, "failures", range="24h")
    html = client.get(url, params).content.decode()
    assert html.count('data-testid="failure-row"') == 3 and "did not answer" in html
    assert traffic["recent_v2"][-1].trace_id in html
    # The page's filters apply to the tables too (hour rollups keep route with each filtered dimension).
    url, params = panel(project, "routes", range="24h", model="m-2")
    html = client.get(url, params).content.decode()
    assert html.count('data-testid="route-row"') == 2  # v2 on /chat and the error on /search are both m-2
    url, params = panel(project, "routes", range="24h", model="m-1")
    assert 'data-testid="panel-empty"' in client.get(url, params).content.decode()
    url, params = panel(project, "failures", range="24h", route="/search")
    assert "No failed scores in this range." in client.get(url, params).content.decode()


def test_explorer_sorts_slices_by_what_got_worse(client, alice, project, traffic):
    client.force_login(alice)
    response = client.get(f"/p/{project.slug}/metrics/", {"metric": "resolved", "group_by": "prompt_version"})
    assert response.status_code == 200
    assert "binary, in %, higher is better" in response.content.decode()
    # Two days against the two before: m-2 went from passing to failing, m-1 passed in both.
    end = floor_time(timezone.now(), 3600) + timedelta(hours=1)
    span = {"from": (end - timedelta(days=2)).isoformat(), "to": end.isoformat()}
    url, params = panel(project, "slices", metric="resolved", group_by="model", range="custom", **span)
    html = client.get(url, params).content.decode()
    rows = re.findall(r'<tr data-testid="slice-row" class="([^"]*)">\s*<td><a [^>]*>([^<]+)</a>', html)
    assert rows == [("worse", "m-2"), ("", "m-1")]
    assert "−100.0 pp ▼ worse" in html


def test_htmx_requests_get_the_dashboard_fragment(client, alice, project, traffic):
    client.force_login(alice)
    response = client.get(overview(project), {"range": "7d", "group_by": "model"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="dashboard"') and "<html" not in html
    assert "group_by=model" in html and "range=7d" in html
    assert "HX-Request" in response["Vary"]
    restore = client.get(
        overview(project), {"range": "7d"}, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in restore.content.decode()  # back/forward restores the whole page


def test_registered_panel_kinds_load_through_the_panel_view(client, alice, project):
    @panel_register("test-note")
    def note(request):
        return PanelContent(title="A note", empty=f"{request.state.range} for {request.project.name}")

    client.force_login(alice)
    url, params = panel(project, "test-note", range="7d", pid="panel-note")
    html = client.get(url, params).content.decode()
    assert 'id="panel-note"' in html and "7d for Acme Support Bot" in html
    assert client.get(f"/p/{project.slug}/panels/nope/").status_code == 404


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"range": "forever"}, "range: use one of"),
        ({"range": "custom", "from": "yesterday", "to": "2026-11-02"}, "from: not an ISO 8601 time"),
        ({"range": "custom"}, "from: required for a custom range"),
        ({"interval": "2m"}, "interval: use one of"),
        ({"range": "custom", "from": "2026-01-01", "to": "2026-11-30", "interval": "1m"}, "interval:"),
        ({"group_by": "colour"}, "group_by: use one of"),
        ({"route": "a\x00b"}, "route: must not contain NUL"),
    ],
)
def test_bad_parameters_show_a_message_never_a_500(client, alice, project, traffic, params, message):
    client.force_login(alice)
    for url in (overview(project), f"/p/{project.slug}/metrics/", f"/p/{project.slug}/panels/series/"):
        response = client.get(url, {"metric": "resolved", **params})
        assert response.status_code == 400, url
        assert message in response.content.decode(), url
    partial = client.get(overview(project), params, HTTP_HX_REQUEST="true")
    assert partial.status_code == 400 and 'data-testid="param-error"' in partial.content.decode()


@pytest.mark.parametrize(
    ("url_tail", "params", "message"),
    [
        ("metrics/", {"metric": "nope"}, "metric: no metric"),
        ("panels/series/", {"metric": "nope"}, "metric: no metric"),
        ("panels/series/", {}, "metric: choose a metric"),
        ("panels/series/", {"metric": "resolved", "stat": "bogus"}, "stat: use one of"),
        ("panels/series/", {"metric": "errors", "stat": "quantiles"}, "stat: errors keeps no quantiles"),
        ("panels/slices/", {"metric": "nope"}, "metric: no metric"),
    ],
)
def test_bad_metric_or_stat_is_named(client, alice, project, traffic, url_tail, params, message):
    client.force_login(alice)
    response = client.get(f"/p/{project.slug}/{url_tail}", params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_outsider_gets_404_on_every_dashboard_page(client, carol, project):
    client.force_login(carol)
    for tail in ("", "metrics/", "panels/series/?metric=traces", "panels/routes/"):
        assert client.get(f"/p/{project.slug}/{tail}").status_code == 404


def test_panel_reads_a_bounded_number_of_queries(client, alice, project, traffic, django_assert_max_num_queries):
    client.force_login(alice)
    url, params = panel(project, "series", metric="resolved", range="30d")
    with django_assert_max_num_queries(12):
        assert client.get(url, params).status_code == 200


def test_alert_rules_on_a_metric_draw_their_threshold_on_its_chart(client, alice, project, traffic):
    from apps.slis.services import alert_rule_create, sli_create

    resolved = sli_create(project=project, name="Resolved rate", metric="resolved", aggregation="pass_rate")
    alert_rule_create(project=project, sli=resolved, comparator="<", threshold=0.9)
    failing = sli_create(project=project, name="Unresolved rate", metric="resolved", aggregation="fail_rate")
    alert_rule_create(project=project, sli=failing, comparator=">", threshold=0.25, is_enabled=False)
    client.force_login(alice)
    url, params = panel(project, "series", metric="resolved", range="24h", group_by="prompt_version")
    shapes = figure(client.get(url, params))["layout"]
    lines = [(s["y0"], s["y1"]) for s in shapes.get("shapes", [])]
    labels = [a["text"] for a in shapes.get("annotations", [])]
    # The enabled rule's line at 90 % on the pass-rate chart; the disabled rule draws nothing.
    assert lines == [(90.0, 90.0)]
    assert labels == ["Resolved rate < 90 %"]


def test_overview_draws_its_panels_as_their_own_urls_do(client, alice, project, traffic, django_assert_max_num_queries):
    client.force_login(alice)
    # The page and all its panels in one request; the reads panels share (declarations, rules) are made once.
    with django_assert_max_num_queries(36):
        html = client.get(overview(project), {"range": "7d"}).content.decode()
    assert 'hx-trigger="load"' not in html  # nothing left for the browser to fetch
    drawn = re.findall(r'(<section class="panel[^"]*" id="[^"]+".*?</section>)', html, re.S)
    assert len(drawn) >= 8 and all('data-loaded="true"' in section for section in drawn)
    for section in drawn:
        # Each keeps its own URL (a `panel:refresh` loads it again), which answers the very same fragment.
        url = unescape(re.search(r'hx-get="([^"]+)" hx-trigger="panel:refresh"', section).group(1))
        alone = client.get(url, HTTP_HX_REQUEST="true").content.decode().strip()
        assert alone == section.strip(), url
