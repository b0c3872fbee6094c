"""Benchmark: server time of the overview (the page and every panel it loads) and the metric explorer, 30 days.

Data: benchmarks/metrics_data.py (one project, BENCH_METRICS_TRACES traces, default 1,000,000, and 3 scores each
over 30 days, 3 models, 6 prompt versions, 8 routes), rollups built by rollups_rebuild; shared with the metrics
bench through the `metrics_dataset` fixture (kept and reused with BENCH_KEEP_DB=1). Ranges end at the data's end.
A whole load is what a browser requests: the page, then every panel placeholder it holds (`hx-trigger="load"`; the
overview draws its panels in the page, the explorer places placeholders), sequentially; the figure reported is the
sum over those requests (in-process, Django's handler, no network), cold (first load) and the median/max of
BENCH_DASH_REPEAT warm loads, for 24 h, 7 d and 30 d; then each panel's own URL alone (what a refresh costs).
Timed outside the test environment's template instrumentation (see `served`). Speed is reported (stdout and
BENCH_DASH_REPORT), never asserted.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import setup_test_environment, teardown_test_environment

from apps.dashboards.state import iso_utc
from apps.projects.models import Membership, Project
from benchmarks.conftest import MetricsDataset, metrics_db_name
from benchmarks.harness import machine_summary
from tests.projects.factories import UserFactory

REPEAT = int(os.environ.get("BENCH_DASH_REPEAT", "5"))
REPORT = Path(os.environ.get("BENCH_DASH_REPORT", "/tmp/bench_dashboards_report.md"))
User = get_user_model()
# A placeholder the browser loads at once (htmx `load`), and a drawn panel's own URL (fired by `panel:refresh`).
PLACEHOLDER_URL = re.compile(r'hx-get="(/p/[^"]+/panels/[^"]+)"\s+hx-trigger="load"')
PANEL_URL = re.compile(r'hx-get="(/p/[^"]+/panels/[^"]+)"')
DRAWN = re.compile(r'data-testid="panel"[^>]*data-loaded="true"')


def _key(panel_url: str) -> str:
    name = re.search(r"/panels/([^/]+)/\?(.*)", panel_url)
    params = dict(p.split("=", 1) for p in name.group(2).split("&") if "=" in p)
    return f"{name.group(1)} {params.get('metric', '')} {params.get('stat', '')}".strip()


def _load(client: Client, url: str, each: dict[str, list[float]] | None = None) -> tuple[float, float, int]:
    """Load a page and every placeholder it holds, as a browser does; return (total s, slowest panel request s,
    panels: drawn in the page + loaded by their own request)."""
    started = time.perf_counter()
    page = client.get(url)
    assert page.status_code == 200, page.content[:500]
    total = time.perf_counter() - started
    if each is not None:
        each.setdefault("(the page itself)", []).append(total)
    slowest = 0.0
    html = page.content.decode()
    panels = [unescape(u) for u in PLACEHOLDER_URL.findall(html)]
    for panel_url in panels:
        started = time.perf_counter()
        response = client.get(panel_url, HTTP_HX_REQUEST="true")
        took = time.perf_counter() - started
        assert response.status_code == 200, (panel_url, response.content[:500])
        total += took
        slowest = max(slowest, took)
        if each is not None:
            each.setdefault(_key(panel_url), []).append(took)
    return total, slowest, len(panels) + len(DRAWN.findall(html))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


@pytest.fixture
def served() -> Iterator[None]:
    """Requests rendered as a server renders them: the test environment makes every template render send a signal
    on which the test Client copies that template's context (for `response.context`), a cost that grows with the
    includes of a page and that no browser's request pays (it was ~1/3 of the overview's time in this bench)."""
    teardown_test_environment()
    try:
        yield
    finally:
        setup_test_environment()


def test_overview_and_explorer_server_time(metrics_dataset: MetricsDataset, served: None):
    data = metrics_dataset
    owner = User.objects.filter(username="bench-owner").first() or UserFactory(username="bench-owner")
    project = Project.objects.get(id=data.project_id)
    Membership.objects.get_or_create(project=project, user=owner, defaults={"role": Membership.Role.ADMIN})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scores_rollup")
        cursor.execute("ANALYZE scores_score")
    if data.generated_s is None:
        made = f"- data reused from {metrics_db_name()} (BENCH_KEEP_DB=1), ending {data.end:%Y-%m-%d %H:%M} UTC"
    else:
        made = f"- data generated in {data.generated_s:.1f} s; rollups rebuilt in {data.rebuilt_s:.1f} s"

    def window(days: int, interval: str) -> str:
        """A range ending at the data's end (a kept dataset is older than now), at the preset's interval."""
        return (
            f"range=custom&from={iso_utc(data.end - timedelta(days=days))}&to={iso_utc(data.end)}&interval={interval}"
        )

    client = Client()
    client.force_login(owner)
    lines = [
        f"# Dashboards benchmark ({data.traces:,} traces, {3 * data.traces:,} scores, 30 days)",
        "",
        machine_summary(),
        "",
        made,
        "",
        "Server time of a whole load (the page + every placeholder's request, sequential, in-process):",
        "",
        "| page | panels | cold | warm median | warm max | slowest panel request (warm) |",
        "|---|---|---|---|---|---|",
    ]
    pages = [
        ("overview 24 h", f"/p/{project.slug}/?{window(1, '1h')}"),
        ("overview 7 d", f"/p/{project.slug}/?{window(7, '1h')}"),
        ("overview 30 d", f"/p/{project.slug}/?{window(30, '1d')}"),
        ("overview 30 d by model", f"/p/{project.slug}/?{window(30, '1d')}&group_by=model"),
        ("explorer refusal 30 d by prompt version", f"/p/{project.slug}/metrics/?metric=refusal&{window(30, '1d')}"),
        (
            "explorer latency 30 d by route",
            f"/p/{project.slug}/metrics/?metric=latency_ms&{window(30, '1d')}&group_by=route",
        ),
    ]
    for label, url in pages:
        cold, _, panels = _load(client, url)
        panels_loaded = PLACEHOLDER_URL.search(client.get(url).content.decode()) is not None
        warm = [_load(client, url) for _ in range(REPEAT)]
        totals = [w[0] for w in warm]
        lines.append(
            f"| {label} | {panels} | {_ms(cold)} | {_ms(statistics.median(totals))} | {_ms(max(totals))} "
            f"| {_ms(statistics.median(w[1] for w in warm)) if panels_loaded else '– (all in the page)'} |"
        )
    each: dict[str, list[float]] = {}
    url = f"/p/{project.slug}/?{window(30, '1d')}&group_by=prompt_version"
    for _ in range(REPEAT):
        _load(client, url, each)
    lines += ["", "Each request of the 30-day overview grouped by prompt version (warm median):", ""]
    lines += [f"- {name}: {_ms(statistics.median(times))}" for name, times in each.items()]
    # Each panel's own URL alone (a refresh, or a page that places it as a placeholder): its reads are its own.
    alone: dict[str, list[float]] = {}
    panel_urls = [unescape(u) for u in PANEL_URL.findall(client.get(url).content.decode())]
    for _ in range(REPEAT):
        for panel_url in panel_urls:
            started = time.perf_counter()
            assert client.get(panel_url, HTTP_HX_REQUEST="true").status_code == 200
            alone.setdefault(_key(panel_url), []).append(time.perf_counter() - started)
    lines += ["", "Each panel of that overview by its own URL (a refresh; warm median):", ""]
    lines += [f"- {name}: {_ms(statistics.median(times))}" for name, times in alone.items()]
    report = "\n".join(lines) + "\n"
    REPORT.write_text(report)
    print("\n" + report)
