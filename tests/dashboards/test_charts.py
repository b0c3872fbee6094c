"""Figures built from selector output: units and direction from the MetricSpec, UTC buckets, gaps, thresholds.

Figures are plain dicts; `plotly_checked` holds each equal to what plotly's own validation makes of it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import plotly.graph_objects as go
import pytest

from apps.dashboards.charts import (
    PALETTE,
    Marker,
    Stat,
    Threshold,
    change_format,
    figure_json,
    headline_label,
    series_figure,
    sli_figure,
    value_format,
)
from apps.dashboards.divergence import divergence_figure
from apps.datasets.divergence import Divergence, DivergencePoint, OfflineValue
from apps.scores.metrics import BUILTIN_SPECS, FEEDBACK_SPECS, score_spec_inferred
from apps.scores.selectors import MetricPoint, MetricSeries
from apps.slis.selectors import SliSeries

T = datetime(2026, 11, 30, 8, tzinfo=UTC)
HOUR = timedelta(hours=1)


def point(t, count, *, pass_rate=None, value=None):
    return MetricPoint(t, count, value, pass_rate, None, None, None)


def plotly_checked(fig: dict[str, Any]) -> go.Figure:
    """plotly's Figure of our dict: plotly accepts every key and value, and its JSON is ours (no template)."""
    checked = go.Figure(fig)
    made = checked.to_plotly_json()
    made["layout"].pop("template", None)
    assert json.loads(json.dumps(made)) == json.loads(json.dumps(figure_json(fig)))
    return checked


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
    fig = plotly_checked(fig)
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
    fig = plotly_checked(fig)
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


def _points(n: int) -> list[MetricPoint]:
    return [
        MetricPoint(
            T + i * HOUR,
            10 + i,
            0.5 + i / 100,
            0.9 - i / 100,
            100.0 + i,
            200.0 + i,
            300.0 + i,
            value_sum=5.0 * i,
            corrected_pass_rate=0.8,
            ci_low=0.7,
            ci_high=0.9,
            n_labeled=40,
        )  # fmt: skip
        for i in range(n)
        if i != 2  # a gap
    ]


FIGURES: dict[str, Any] = {
    "counts as bars": dict(spec=BUILTIN_SPECS["traces"], stats=[Stat("count", "traces")], bars=True),
    "sums": dict(spec=BUILTIN_SPECS["cost"], stats=[Stat("value_sum", "total")], bars=True),
    "quantiles": dict(spec=BUILTIN_SPECS["latency_ms"], stats=[Stat("p50", "p50"), Stat("p95", "p95")]),
    "error rate": dict(spec=BUILTIN_SPECS["errors"], stats=[Stat("value", "Error rate")]),
    "pass rate, thresholds and markers": dict(
        spec=score_spec_inferred("refusal", judged=True),
        stats=[Stat("pass_rate", "pass rate")],
        thresholds=[Threshold(0.95, "SLO 95 %"), Threshold(0.9, "pass_rate < 90.0 % (model: m-1)")],
        markers=[Marker(T + HOUR, "refusal v1 → v2 (logic)"), Marker(T + 5 * HOUR, "v2 → v3", hover="abc → def")],
    ),
    "corrected with its band": dict(
        spec=score_spec_inferred("grounding", judged=True),
        stats=[Stat("corrected_pass_rate", "corrected"), Stat("pass_rate", "judge (raw)")],
        band=("ci_low", "ci_high"),
    ),
}


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("name", list(FIGURES))
def test_figures_are_what_plotly_makes_of_them(name, grouped):
    groups = [{"model": "m-1"}, {"model": "m-2"}, {"model": ""}] if grouped else [{}]
    series = [MetricSeries(g, _points(6)) for g in groups]
    kwargs = FIGURES[name]
    fig = series_figure(series=series, start=T, end=T + 6 * HOUR, step=HOUR, link=lambda g: f"/t/?{g}", **kwargs)
    plotly_checked(fig)


@pytest.mark.parametrize("compact", [False, True])
def test_sli_and_divergence_figures_are_what_plotly_makes_of_them(compact):
    sli_series = [
        SliSeries({}, [(T, 0.02, 40), (T + HOUR, None, 0), (T + 2 * HOUR, 0.05, 38)]),
        SliSeries({"route": "/chat"}, [(T + HOUR, 120.0, 3)]),
    ]
    thresholds = [Threshold(0.01, "SLO 99 %"), Threshold(0.03, "> 3.0 %")]
    for unit in ("%", "ms", ""):
        plotly_checked(
            sli_figure(
                series=sli_series,
                unit=unit,
                start=T,
                end=T + 3 * HOUR,
                step=HOUR,
                thresholds=thresholds,
                compact=compact,
            )
        )
    spec = score_spec_inferred("refusal", judged=True)
    items = [
        Divergence(
            model,
            "v3",
            "refusal",
            spec,
            [OfflineValue(T, 0.9, 1, "1")],
            [DivergencePoint(T + i * HOUR, 0.8, 20, 0.9, 0.1) for i in range(3)],
        )  # fmt: skip
        for model in ("m-1", "")
    ]
    plotly_checked(divergence_figure(items, T, T + 3 * HOUR, HOUR, 0.1))
