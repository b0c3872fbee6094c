"""Bias-corrected pass rates of judged metrics: the rollups' judge verdicts plus the labeled random sample.

Scores cannot read the review queue (review sits above scores), so review registers the selector that returns the
calibration pairs (`calibration_pairs_provider_register`, from ReviewConfig.ready); the math is apps/scores/ppi.py.

Pooling: a bucket (a minute, an hour) holds almost no labels, and the rectifier estimates a property of the judge
on this traffic, not of one bucket. So every point of a series is corrected with the same labeled sample: the
labeled traces of the series' slice whose trace started in the requested range, widened to at least
PPI_LABEL_WINDOW_DAYS ending at the range's end. Points share the rectifier, so their intervals are correlated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from apps.projects.models import Project
from apps.scores.metrics import MetricSpec
from apps.scores.ppi import Rectifier, ppi_estimate, rectifier_from_pairs
from apps.scores.selectors import MetricQueryError, MetricSeries, metric_series, metric_spec_get


@dataclass(frozen=True)
class RandomSamplePair:
    """One labeled trace of the random sample: its human consensus and the live judge's verdict, with its slice."""

    trace_pk: int
    human: bool
    judge: bool
    dims: Mapping[str, str]  # model, prompt_version, route, environment of the judge's score


# (project, metric, start, end, filters) -> the pairs of traces that started in [start, end)
PairsProvider = Callable[[Project, str, datetime, datetime, Mapping[str, str]], list[RandomSamplePair]]
_providers: list[PairsProvider] = []


def calibration_pairs_provider_register(provider: PairsProvider) -> None:
    """Let review supply the labeled random sample joined to judge verdicts (called from its AppConfig.ready)."""
    if provider not in _providers:
        _providers.append(provider)


def calibration_pairs(
    *, project: Project, metric: str, start: datetime, end: datetime, filters: Mapping[str, str] | None = None
) -> list[RandomSamplePair]:
    """Return the calibration pairs of a judged metric whose traces started in [start, end) (none without review)."""
    pairs: list[RandomSamplePair] = []
    for provider in _providers:
        pairs.extend(provider(project, metric, start, end, dict(filters or {})))
    return pairs


def label_window(*, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Return the range whose labels correct [start, end): itself, widened to PPI_LABEL_WINDOW_DAYS before end."""
    return min(start, end - timedelta(days=settings.PPI_LABEL_WINDOW_DAYS)), end


def rectifier_for_group(pairs: Sequence[RandomSamplePair], group: Mapping[str, str]) -> Rectifier:
    """Return the rectifier of the pairs in one slice (the group's dimension values)."""
    return rectifier_from_pairs(
        (p.human, p.judge) for p in pairs if all(p.dims.get(d, "") == v for d, v in group.items())
    )


def series_correct(series: Sequence[MetricSeries], pairs: Sequence[RandomSamplePair]) -> None:
    """Fill each point's corrected pass rate, interval and n_labeled from its series' slice of the pairs."""
    for s in series:
        rect = rectifier_for_group(pairs, s.group)
        for point in s.points:
            point.n_labeled = rect.n
            estimate = ppi_estimate(judge_passed=point.passed, judge_total=point.judged, rectifier=rect)
            if estimate is not None:
                point.corrected_pass_rate, point.ci_low, point.ci_high = (
                    estimate.rate,
                    estimate.ci_low,
                    estimate.ci_high,
                )


def metric_series_corrected(
    *,
    project: Project,
    metric: str,
    start: datetime,
    end: datetime,
    interval: str,
    group_by: Sequence[str] = (),
    filters: Mapping[str, str] | None = None,
    spec: MetricSpec | None = None,
) -> tuple[list[MetricSeries], tuple[datetime, datetime]]:
    """Return metric_series with each point's bias-corrected pass rate, and the range its labels were read from.

    Raises MetricQueryError (field `corrected`) for a metric no LLM judge writes.
    """
    spec = spec or metric_spec_get(project=project, name=metric)
    if spec is None or not spec.judged:
        raise MetricQueryError(
            "corrected", f"{metric!r} is not judged by an LLM judge: corrected=true applies to judged metrics only"
        )
    series = metric_series(
        project=project,
        metric=metric,
        start=start,
        end=end,
        interval=interval,
        group_by=group_by,
        filters=filters,
        spec=spec,
    )
    window = label_window(start=start, end=end)
    pairs = calibration_pairs(project=project, metric=metric, start=window[0], end=window[1], filters=filters)
    series_correct(series, pairs)
    return series, window
