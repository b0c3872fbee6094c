"""GET /api/v1/metrics: a metric's series per bucket and slice, read from the rollups."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import error_response
from apps.scores.corrected import metric_series_corrected
from apps.scores.metrics import Direction, MetricKind, MetricSpec
from apps.scores.selectors import (
    DIMENSION_BITS,
    INTERVALS,
    MAX_POINTS,
    MetricQueryError,
    metric_series,
    metric_spec_get,
)

METRIC_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
DEFAULT_RANGE = timedelta(hours=24)
# The choices of `direction` and `value_direction`: one schema enum (settings ENUM_NAME_OVERRIDES names it).
DIRECTION_VALUES = [d.value for d in Direction]


class MetricPointSerializer(serializers.Serializer):
    t = serializers.DateTimeField(help_text="the bucket's start (UTC)")
    count = serializers.IntegerField(help_text="traces (trace metrics) or scores in the bucket")
    value = serializers.FloatField(allow_null=True, help_text="the mean value; null when no value applies")
    pass_rate = serializers.FloatField(allow_null=True, help_text="passed ÷ judged; null without verdicts")
    p50 = serializers.FloatField(allow_null=True, help_text="null unless the metric keeps quantiles")
    p95 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)
    corrected_pass_rate = serializers.FloatField(
        allow_null=True,
        required=False,
        help_text="with corrected=true: the bias-corrected pass rate (judge mean + mean(human − judge) on the "
        "labeled random sample); null below 2 labels or without verdicts",
    )
    ci_low = serializers.FloatField(allow_null=True, required=False, help_text="with corrected=true: 95 % interval")
    ci_high = serializers.FloatField(allow_null=True, required=False, help_text="with corrected=true: 95 % interval")
    n_labeled = serializers.IntegerField(
        required=False, help_text="with corrected=true: labeled random-sample traces behind the correction"
    )


class MetricSeriesSerializer(serializers.Serializer):
    group = serializers.DictField(child=serializers.CharField(allow_blank=True), help_text="the group_by values")
    points = MetricPointSerializer(many=True)


class MetricCorrectionSerializer(serializers.Serializer):
    labels_from = serializers.DateTimeField(help_text="the labeled random sample is read from traces started here")
    labels_to = serializers.DateTimeField(help_text="… up to here (exclusive)")
    confidence = serializers.FloatField(help_text="of ci_low and ci_high: 0.95")


class MetricValueLabelSerializer(serializers.Serializer):
    value = serializers.FloatField()
    text = serializers.CharField(help_text="what this value says, e.g. 'refused (fail)'")


class MetricMeaningSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="the name people read")
    kind = serializers.ChoiceField(choices=[k.value for k in MetricKind])
    headline = serializers.ChoiceField(
        choices=["pass_rate", "value", "count"], help_text="the point field that summarises the metric"
    )
    direction = serializers.ChoiceField(choices=DIRECTION_VALUES, help_text="which way the headline is better")
    unit = serializers.CharField(allow_blank=True, help_text="the headline's unit: %, ms, tokens, USD or ''")
    value_direction = serializers.ChoiceField(
        choices=DIRECTION_VALUES, help_text="which way one score's value is better"
    )
    value_unit = serializers.CharField(allow_blank=True)
    value_labels = MetricValueLabelSerializer(many=True, help_text="how values read, where declared")
    source = serializers.CharField(allow_blank=True, help_text="who declared it: trace, feedback, evaluator, inferred")


class MetricsOutputSerializer(serializers.Serializer):
    metric = serializers.CharField()
    meaning = MetricMeaningSerializer(help_text="the metric's declaration, the one the UI reads")
    interval = serializers.ChoiceField(choices=list(INTERVALS))
    series = MetricSeriesSerializer(many=True)
    correction = MetricCorrectionSerializer(required=False, help_text="with corrected=true: how points were corrected")


class MetricQueryInvalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _time(params, name: str, default: datetime) -> datetime:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = parse_datetime(raw if ("T" in raw or " " in raw) else raw + "T00:00:00")
    except ValueError:
        value = None
    if value is None:
        raise MetricQueryInvalid(name, f"not an ISO 8601 time: {raw[:50]!r}")
    if value.tzinfo is None:  # times without an offset are UTC, like everything here
        value = value.replace(tzinfo=UTC)
    try:
        value.astimezone(UTC)
    except OverflowError as exc:
        raise MetricQueryInvalid(name, "out of range") from exc
    if not datetime(1970, 1, 1, tzinfo=UTC) <= value <= datetime(9000, 1, 1, tzinfo=UTC):
        raise MetricQueryInvalid(name, "must be between 1970 and 9000")
    return value


def _flag(params, name: str) -> bool:
    raw = _text(params, name).strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise MetricQueryInvalid(name, f"use true or false, not {raw[:20]!r}")


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _meaning(spec: MetricSpec) -> dict:
    """The metric's declaration as the UI reads it, so API users read values the same way."""
    return {
        "label": spec.display_name,
        "kind": spec.kind.value,
        "headline": spec.headline,
        "direction": spec.direction.value,
        "unit": spec.unit,
        "value_direction": spec.value_better.value,
        "value_unit": spec.value_unit,
        "value_labels": [{"value": v, "text": text} for v, text in spec.value_labels],
        "source": spec.source,
    }


def _text(params, name: str) -> str:
    value = params.get(name, "")
    if "\x00" in value:
        raise MetricQueryInvalid(name, "must not contain NUL characters")
    if len(value) > 200:
        raise MetricQueryInvalid(name, "at most 200 characters")
    return value


class MetricsApi(APIView):
    """A metric's series from the rollups: one series per group, a point per non-empty bucket."""

    @extend_schema(
        summary="Get a metric's series",
        description=(
            "Reads the per-minute/hour/day rollups (never raw traces). Every bucket that overlaps [from, to) is "
            "returned whole, aligned on UTC; buckets without data are left out. `value` is the mean, "
            "`pass_rate` passed ÷ judged, p50/p95/p99 come from a DDSketch (1 % relative accuracy) for latency and "
            f"continuous scores; fields that do not apply are null. At most {MAX_POINTS} points per series."
        ),
        parameters=[
            OpenApiParameter(
                "metric",
                str,
                required=True,
                description="a score name, or a built-in: traces, errors, latency_ms, tokens, cost",
            ),
            OpenApiParameter(
                "from", OpenApiTypes.DATETIME, description="ISO 8601 (UTC without offset); default to − 24 h"
            ),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="ISO 8601, exclusive; default now"),
            OpenApiParameter("interval", str, enum=list(INTERVALS), description="bucket width; default 1h"),
            OpenApiParameter(
                "group_by", str, description=f"comma list of {', '.join(DIMENSION_BITS)}; one series per group"
            ),
            *[OpenApiParameter(d, str, description=f"only this {d}") for d in DIMENSION_BITS],
            OpenApiParameter(
                "corrected",
                bool,
                description="judged metrics only: add corrected_pass_rate, ci_low, ci_high and n_labeled per point "
                "(prediction-powered inference with the labeled random review sample over the range, at least "
                "PPI_LABEL_WINDOW_DAYS); 400 for a metric no LLM judge writes",
            ),
        ],
        responses={200: MetricsOutputSerializer},
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        project = request.auth.project
        try:
            metric = _text(params, "metric").strip()
            if not metric:
                raise MetricQueryInvalid("metric", "required: a score name or a built-in")
            if not METRIC_NAME.match(metric):
                raise MetricQueryInvalid("metric", "use 1-100 letters, digits, _ . : -")
            end = _time(params, "to", timezone.now())
            start = _time(params, "from", end - DEFAULT_RANGE)
            interval = _text(params, "interval") or "1h"
            group_by = [g.strip() for g in _text(params, "group_by").split(",") if g.strip()]
            for g in group_by:
                if g not in DIMENSION_BITS:
                    raise MetricQueryInvalid("group_by", f"use a comma list of {', '.join(DIMENSION_BITS)}, not {g!r}")
            if len(set(group_by)) != len(group_by):
                raise MetricQueryInvalid("group_by", "a dimension is repeated")
            filters = {d: _text(params, d) for d in DIMENSION_BITS if d in params}
            corrected = _flag(params, "corrected")
            spec = metric_spec_get(project=project, name=metric)
            if spec is None:
                raise MetricQueryInvalid("metric", f"no metric {metric!r} in this project")
            query = {
                "project": project,
                "metric": metric,
                "start": start,
                "end": end,
                "interval": interval,
                "group_by": group_by,
                "filters": filters,
                "spec": spec,
            }
            window = None
            if corrected:
                series, window = metric_series_corrected(**query)
            else:
                series = metric_series(**query)
        except (MetricQueryInvalid, MetricQueryError) as exc:
            return error_response(str(exc), "invalid_parameter", 400, field=exc.field)
        stamps: dict[datetime, str] = {}  # the groups share their bucket times: format each once
        for s in series:
            for p in s.points:
                if p.t not in stamps:
                    stamps[p.t] = _iso(p.t)
        body = {
            "metric": metric,
            "meaning": _meaning(spec),
            "interval": interval,
            "series": [
                {
                    "group": s.group,
                    "points": [
                        {
                            "t": stamps[p.t],
                            "count": p.count,
                            "value": p.value,
                            "pass_rate": p.pass_rate,
                            "p50": p.p50,
                            "p95": p.p95,
                            "p99": p.p99,
                            **(
                                {
                                    "corrected_pass_rate": p.corrected_pass_rate,
                                    "ci_low": p.ci_low,
                                    "ci_high": p.ci_high,
                                    "n_labeled": p.n_labeled,
                                }
                                if corrected
                                else {}
                            ),
                        }
                        for p in s.points
                    ],
                }
                for s in series
            ],
        }
        if window is not None:
            body["correction"] = {"labels_from": _iso(window[0]), "labels_to": _iso(window[1]), "confidence": 0.95}
        return Response(body)
