"""Figures built from selector output: units and direction from the MetricSpec, UTC buckets, gaps, thresholds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from apps.dashboards.charts import (
    PALETTE,
    Stat,
    Threshold,
    change_format,
    figure_json,
    headline_label,
    series_figure,
    value_format,
)
from apps.scores.metrics import BUILTIN_SPECS, FEEDBACK_SPECS, score_spec_inferred
from apps.scores.selectors import MetricPoint, MetricSeries

T = datetime(2026, 11, 30, 8, tzinfo=UTC)
HOUR = timedelta(hours=1)


def point(t, count, *, pass_rate=None, value=None):
    return MetricPoint(t, count, value, pass_rate, None, None, None)


def test_series_figure_shows_pass_rates_in_percent_with_gaps_and_links():
    spec = score_spec_inferred("resolved", judged=True)
    series = [
        MetricSeries({"prompt_version": "v1"}, [point(T, 4, pass_rate=1.0), point(T + 2 * HOUR, 2, pass_rate=0.5)]),
        MetricSeries({"prompt_version": "v2"}, [point(T + 2 * HOUR, 3, pass_rate=0.0)]),
    ]
    fig = series_figure(
        spec=spec,
        series=series,
        stats=[Stat("pass_rate")],
        start=T,
        end=T + 3 * HOUR,
        step=HOUR,
        link=lambda group: "/traces/?prompt_version=" + group["prompt_version"],
        thresholds=[Threshold(0.95, "SLO 95 %")],
    )
    v1, v2 = fig.data
    assert list(v1.x) == ["2026-11-30 08:00", "2026-11-30 09:00", "2026-11-30 10:00"]  # UTC wall time
    assert list(v1.y) == [100.0, None, 50.0]  # an empty bucket is a gap, not a zero pass rate
    assert list(v1.customdata) == [4, 0, 2]
    assert (v1.name, v2.name) == ("v1", "v2")
    assert v1.line.color != v2.line.color and v1.line.color in PALETTE
    layout = fig.layout
    assert layout.yaxis.ticksuffix == " %" and list(layout.yaxis.range) == [-2, 105]
    assert layout.xaxis.title.text == "UTC"
    assert layout.meta["links"] == ["/traces/?prompt_version=v1", "/traces/?prompt_version=v2"]
    assert layout.meta["step"] == 3600
    (line,) = layout.shapes
    assert (line.y0, line.y1, line.line.dash) == (95.0, 95.0, "dash")


def test_series_figure_fills_counts_with_zero_and_draws_bars():
    spec = BUILTIN_SPECS["traces"]
    fig = series_figure(
        spec=spec,
        series=[MetricSeries({}, [point(T + HOUR, 7)])],
        stats=[Stat("count", "traces")],
        start=T,
        end=T + 3 * HOUR,
        step=HOUR,
        bars=True,
    )
    (bars,) = fig.data
    assert bars.type == "bar" and list(bars.y) == [0, 7, 0]
    assert fig.layout.showlegend is False


def test_units_and_direction_come_from_the_spec_never_inverted():
    thumbs_down = FEEDBACK_SPECS["thumbs_down"]  # lower is better: shown as the rate of thumbs-down
    refusal = score_spec_inferred("refusal", judged=True)  # a pass rate
    assert value_format(thumbs_down, 0.04) == "4.0 %"
    assert value_format(refusal, 0.96) == "96.0 %"
    assert headline_label(refusal) == "refusal pass rate"
    assert headline_label(thumbs_down) == "Thumbs-down rate"
    assert value_format(BUILTIN_SPECS["latency_ms"], 812.4) == "812 ms"
    assert value_format(BUILTIN_SPECS["cost"], 0.01234) == "$0.0123"
    assert value_format(BUILTIN_SPECS["traces"], 1204, "count") == "1,204"
    assert value_format(refusal, None) == "–"
    assert change_format(refusal, -0.042) == "−4.2 pp"
    assert change_format(BUILTIN_SPECS["latency_ms"], 120.0) == "+120.0 ms"


def test_figure_json_is_plain_json_without_a_template():
    spec = BUILTIN_SPECS["latency_ms"]
    fig = series_figure(
        spec=spec,
        series=[MetricSeries({}, [MetricPoint(T, 3, 100.0, None, 90.0, 180.0, 200.0)])],
        stats=[Stat("p50", "p50"), Stat("p95", "p95")],
        start=T,
        end=T + HOUR,
        step=HOUR,
    )
    data = figure_json(fig)
    assert "template" not in data["layout"]
    assert [t["name"] for t in data["data"]] == ["p50", "p95"]
    assert data["layout"]["yaxis"]["ticksuffix"] == " ms"
    json.dumps(data)  # what json_script will do
