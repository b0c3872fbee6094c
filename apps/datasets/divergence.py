"""Offline vs online: per metric and model/prompt version, the offline suite's value beside live traffic's.

The online side is read from the rollups (`metric_series` / `metric_totals`), never from raw scores. The offline
value at a bucket is the latest offline run of that version measured before the bucket ended (or, for buckets
before the first run, that first run: the suite's word on the version). The gap is signed so that positive means
"offline looks better than production" whatever the metric's direction: that is the suite falling behind.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apps.datasets.models import OfflineMetric
from apps.projects.models import Project
from apps.scores.metrics import Direction, MetricKind, MetricSpec
from apps.scores.selectors import INTERVALS, MetricPoint, metric_series, metric_spec_get, metric_totals

DEFAULT_THRESHOLD = 0.10  # 10 points of a pass rate; for metrics not in %, a 10 % relative gap
DEFAULT_PERSIST = 3  # buckets in a row


@dataclass(frozen=True)
class OfflineValue:
    """One offline run's value of a metric."""

    measured_at: datetime
    value: float
    run_id: int
    evaluator_version: str


@dataclass(frozen=True)
class DivergencePoint:
    """One bucket: live traffic's value and samples, the offline value standing then, and the signed gap."""

    t: datetime
    online: float
    samples: int
    offline: float
    gap: float


@dataclass
class Divergence:
    """A metric for one model/prompt version: offline runs, online points, and whether the gap persists."""

    model: str
    prompt_version: str
    metric: str
    spec: MetricSpec
    offline: list[OfflineValue]
    points: list[DivergencePoint] = field(default_factory=list)
    threshold: float = DEFAULT_THRESHOLD
    persist: int = DEFAULT_PERSIST

    @property
    def latest_offline(self) -> OfflineValue:
        return self.offline[-1]

    @property
    def latest(self) -> DivergencePoint | None:
        return self.points[-1] if self.points else None

    @property
    def flagged(self) -> bool:
        """The gap exceeded the threshold in each of the last `persist` buckets with traffic."""
        tail = self.points[-self.persist :]
        return len(tail) >= self.persist and all(abs(gap_size(self.spec, p)) > self.threshold for p in tail)

    @property
    def behind(self) -> bool:
        """Flagged with offline looking better than production: the offline suite has fallen behind."""
        return self.flagged and self.latest is not None and self.latest.gap > 0


def headline(spec: MetricSpec, point: MetricPoint) -> float | None:
    """The value of a rollup point that the metric's offline value is compared with."""
    return point.pass_rate if spec.headline == "pass_rate" else point.value


def optimism(spec: MetricSpec, offline: float, online: float) -> float:
    """offline − online, signed so that positive means offline looks better than production."""
    gap = offline - online
    if spec.direction == Direction.LOWER_IS_BETTER:
        return -gap
    if spec.direction == Direction.NEUTRAL:
        return abs(gap)
    return gap


def gap_size(spec: MetricSpec, point: DivergencePoint) -> float:
    """The gap in the threshold's terms: points of a rate, else relative to the online value."""
    if spec.unit == "%" or not point.online:
        return point.gap
    return point.gap / abs(point.online)


def _offline_history(
    project: Project, *, before: datetime, metric: str = "", prompt_version: str = "", model: str = ""
) -> dict[tuple[str, str, str], list[OfflineValue]]:
    rows = OfflineMetric.objects.filter(project=project, measured_at__lt=before)
    for name, value in (("name", metric), ("prompt_version", prompt_version), ("model", model)):
        if value:
            rows = rows.filter(**{name: value})
    history: dict[tuple[str, str, str], list[OfflineValue]] = {}
    for row in rows.order_by("measured_at", "id").values_list(
        "model", "prompt_version", "name", "measured_at", "value", "run_id", "evaluator_version"
    ):
        history.setdefault(row[:3], []).append(OfflineValue(*row[3:]))
    return history


def offline_at(history: Sequence[OfflineValue], until: datetime) -> OfflineValue:
    """The offline value standing at `until`: the latest run before it, else the first run."""
    times = [h.measured_at for h in history]
    index = bisect.bisect_left(times, until)
    return history[max(index - 1, 0)]


def _specs(project: Project, names: set[str]) -> dict[str, MetricSpec]:
    specs = {}
    for name in sorted(names):
        spec = metric_spec_get(project=project, name=name)
        if spec is not None and spec.kind != MetricKind.COUNT:
            specs[name] = spec
    return specs


def divergence_list(
    *,
    project: Project,
    start: datetime,
    end: datetime,
    interval: str,
    threshold: float = DEFAULT_THRESHOLD,
    persist: int = DEFAULT_PERSIST,
    metric: str = "",
    prompt_version: str = "",
    model: str = "",
) -> list[Divergence]:
    """Every metric × model/prompt version with an offline value, with its online points over [start, end);
    flagged first, then by the size of the latest gap."""
    history = _offline_history(project, before=end, metric=metric, prompt_version=prompt_version, model=model)
    specs = _specs(project, {name for _, _, name in history})
    step = timedelta(seconds=INTERVALS[interval])
    out: list[Divergence] = []
    for name, spec in specs.items():
        keys = [k for k in history if k[2] == name]
        # One rollup read per metric and grouping: by model and version, and by version alone for runs that name
        # no model.
        online: dict[tuple[str, str], list[MetricPoint]] = {}
        for group_by in (["model", "prompt_version"], ["prompt_version"]):
            if not any(bool(k[0]) == (len(group_by) == 2) for k in keys):
                continue
            for s in metric_series(
                project=project, metric=name, start=start, end=end, interval=interval, group_by=group_by, spec=spec
            ):
                online[(s.group.get("model", ""), s.group["prompt_version"])] = s.points
        for key in keys:
            item = Divergence(key[0], key[1], name, spec, history[key], threshold=threshold, persist=persist)
            for p in online.get(key[:2], []):
                value = headline(spec, p)
                if value is None:
                    continue
                standing = offline_at(item.offline, p.t + step).value
                gap = optimism(spec, standing, value)
                item.points.append(DivergencePoint(p.t, value, p.judged or p.count, standing, gap))
            out.append(item)
    out.sort(key=lambda d: (not d.flagged, -abs(gap_size(d.spec, d.latest)) if d.latest else 0.0, d.metric))
    return out


def divergence_gap_values(
    *,
    project: Project,
    metric: str,
    start: datetime,
    end: datetime,
    group_by: Sequence[str] = (),
    filters: Mapping[str, str] | None = None,
) -> list[tuple[dict[str, str], float, int]]:
    """The signed offline − online gap of a metric over [start, end), per slice of group_by (an SLI): each model/
    prompt version with an offline value is judged; a slice holding several reports the widest gap."""
    spec = metric_spec_get(project=project, name=metric)
    if spec is None:
        return []
    history = _offline_history(project, before=end, metric=metric)
    dims = ["model", "prompt_version"]
    extra = [d for d in group_by if d not in dims]
    rows = metric_totals(
        project=project, metric=metric, start=start, end=end, group_by=[*dims, *extra], filters=filters
    )
    out: dict[tuple[str, ...], tuple[dict[str, str], float, int]] = {}
    for group, point in rows:
        runs = history.get((group["model"], group["prompt_version"], metric)) or history.get(
            ("", group["prompt_version"], metric)
        )
        value = headline(spec, point)
        if not runs or value is None:
            continue
        gap = optimism(spec, offline_at(runs, end).value, value)
        if spec.unit != "%" and value:
            gap = gap / abs(value)
        kept = {d: group[d] for d in group_by}
        key = tuple(kept.values())
        samples = point.judged or point.count
        if key not in out or gap > out[key][1]:
            out[key] = (kept, gap, samples + (out[key][2] if key in out else 0))
        else:
            out[key] = (out[key][0], out[key][1], out[key][2] + samples)
    return sorted(out.values(), key=lambda row: tuple(row[0].values()))
