"""Writes for alerting: SLIs (and their templates), rules, channels; rule evaluation as a conditional-UPDATE
state machine per slice, with its history; notifications as row-claimed deliveries with retries."""

from __future__ import annotations

import logging
import math
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from apps.core.jobs import Claim, Outcome, RowJob, job_claim, job_finish, job_mark_sent, job_release, job_sweep
from apps.core.outbound import OutboundRefused, outbound_url_check
from apps.core.prune import rows_delete_in_batches
from apps.core.queue import task_enqueue
from apps.judges.models import Judge
from apps.projects.models import Project
from apps.scores.metrics import MetricKind
from apps.scores.rollups import MINUTE, floor_time
from apps.slis.engine import (
    AGGREGATIONS,
    BURN_PAIRS,
    COMPARATORS,
    DIMENSIONS,
    FIRING,
    OK,
    RESOLVED,
    SLO_AGGREGATIONS,
    DurationInvalid,
    SliValue,
    bad_fraction,
    breached,
    burn_condition,
    duration_seconds,
    sli_unit,
    slice_key,
    slice_text,
    state_next,
    value_format,
)
from apps.slis.models import AlertFlip, AlertRule, AlertState, Channel, Notification, Sli
from apps.slis.selectors import BASELINE_PERIOD, JUDGE_REGRESSION_PREFIX, baseline_for, sli_spec, sli_values
from apps.slis.transports import TransportError, transport_for

logger = logging.getLogger(__name__)

METRIC_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
MAX_WINDOW = 7 * 86400
MAX_HOLD = 86400

# One click each: (name, metric, aggregation, suggested rule (comparator, threshold)).
SLI_TEMPLATES: dict[str, dict[str, Any]] = {
    "grounding_rate": {"name": "Grounding rate", "metric": "grounding", "aggregation": "pass_rate", "rule": ("<", 0.9)},
    "helpfulness_rate": {
        "name": "Judged helpfulness rate",
        "metric": "helpfulness",
        "aggregation": "pass_rate",
        "rule": ("<", 0.8),
    },
    "refusal_rate": {"name": "Refusal rate", "metric": "refusal", "aggregation": "fail_rate", "rule": (">", 0.05)},
    "thumbs_down_rate": {
        "name": "Thumbs-down rate",
        "metric": "thumbs_down",
        "aggregation": "mean",
        "rule": (">", 0.1),
    },
    "p95_latency": {"name": "p95 latency", "metric": "latency_ms", "aggregation": "p95", "rule": (">", 5000.0)},
    "error_rate": {"name": "Error rate", "metric": "errors", "aggregation": "mean", "rule": (">", 0.02)},
}


# --- SLIs ----------------------------------------------------------------------------------------------------------


def _filters_clean(filters: Mapping[str, Any] | None) -> dict[str, str]:
    if filters is None:
        return {}
    if not isinstance(filters, Mapping):
        raise ValidationError({"filters": "must be an object of dimension: value"})
    cleaned = {}
    for key, value in filters.items():
        if key not in DIMENSIONS:
            raise ValidationError({"filters": f"unknown filter {key!r}; use {', '.join(DIMENSIONS)}"})
        if not isinstance(value, str) or len(value) > 200:
            raise ValidationError({"filters": f"{key}: must be a string of at most 200 characters"})
        cleaned[key] = value
    return cleaned


def _sli_corrected_check(project: Project, metric: str, aggregation: str, use_corrected: bool, min_labels: int) -> None:
    """Refuse a corrected rate where it cannot apply: only pass/fail rates of a metric an LLM judge writes."""
    if not 2 <= int(min_labels) <= 1_000_000:
        raise ValidationError({"corrected_min_labels": "between 2 and 1000000 labeled traces"})
    if not use_corrected:
        return
    if aggregation not in ("pass_rate", "fail_rate"):
        raise ValidationError({"use_corrected": "a corrected rate applies to pass_rate and fail_rate only"})
    spec = sli_spec(project=project, sli=Sli(project=project, metric=metric, aggregation=aggregation))
    if spec is None or not spec.judged:
        raise ValidationError({"use_corrected": f"{metric} is not judged by an LLM judge: no corrected rate"})


def _sli_check(project: Project, metric: str, aggregation: str) -> None:
    """Refuse an aggregation the metric cannot have (a p95 of a pass/fail check, a pass rate of latency)."""
    if not METRIC_NAME.match(metric or ""):
        raise ValidationError({"metric": "use 1-100 letters, digits, _ . : -"})
    if aggregation not in AGGREGATIONS:
        raise ValidationError({"aggregation": f"use one of {', '.join(AGGREGATIONS)}"})
    spec = sli_spec(project=project, sli=Sli(project=project, metric=metric, aggregation=aggregation))
    if spec is None:
        return  # a score that has no data yet: any aggregation may apply once it arrives
    if aggregation == Sli.Aggregation.OFFLINE_GAP and spec.kind == MetricKind.COUNT:
        raise ValidationError({"aggregation": f"{metric} is a count: offline runs compare rates and means"})
    if aggregation in ("p50", "p95", "p99") and not spec.has_quantiles:
        raise ValidationError({"aggregation": f"{metric} has no quantiles; use pass_rate, fail_rate, mean or count"})
    if aggregation in ("pass_rate", "fail_rate") and spec.kind not in (MetricKind.BINARY, MetricKind.RATE):
        raise ValidationError({"aggregation": f"{metric} has no verdicts; use mean, a quantile or count"})


def sli_create(
    *,
    project: Project,
    name: str,
    metric: str,
    aggregation: str,
    filters: Mapping[str, Any] | None = None,
    template: str = "",
    use_corrected: bool = False,
    corrected_min_labels: int = 30,
) -> Sli:
    """Define an SLI: a metric, how it is aggregated, optional dimension filters, and whether a judged rate may be
    bias-corrected (once corrected_min_labels labeled random-sample traces back it)."""
    _sli_check(project, metric, aggregation)
    _sli_corrected_check(project, metric, aggregation, use_corrected, corrected_min_labels)
    if Sli.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": f"an SLI named {name!r} exists already"})
    try:
        with transaction.atomic():
            return Sli.objects.create(
                project=project,
                name=name,
                metric=metric,
                aggregation=aggregation,
                filters=_filters_clean(filters),
                template=template,
                use_corrected=bool(use_corrected),
                corrected_min_labels=int(corrected_min_labels),
            )
    except IntegrityError as exc:
        raise ValidationError({"name": f"an SLI named {name!r} exists already"}) from exc


def sli_create_from_template(*, project: Project, template: str) -> Sli:
    """Create one of the built-in SLIs (grounding rate, refusal rate, p95 latency, …); a second click reuses it."""
    if template not in SLI_TEMPLATES:
        raise ValidationError({"template": f"use one of {', '.join(SLI_TEMPLATES)}"})
    spec = SLI_TEMPLATES[template]
    existing = Sli.objects.filter(project=project, name=spec["name"]).first()
    if existing is not None:
        return existing
    return sli_create(
        project=project, name=spec["name"], metric=spec["metric"], aggregation=spec["aggregation"], template=template
    )


def sli_update(*, sli: Sli, **fields: Any) -> Sli:
    """Change an SLI; its rules judge a different number, so their states are reset."""
    if "filters" in fields:
        fields["filters"] = _filters_clean(fields["filters"])
    if "name" in fields and Sli.objects.filter(project=sli.project, name=fields["name"]).exclude(id=sli.id).exists():
        raise ValidationError({"name": f"an SLI named {fields['name']!r} exists already"})
    _sli_check(sli.project, fields.get("metric", sli.metric), fields.get("aggregation", sli.aggregation))
    _sli_corrected_check(
        sli.project,
        fields.get("metric", sli.metric),
        fields.get("aggregation", sli.aggregation),
        fields.get("use_corrected", sli.use_corrected),
        fields.get("corrected_min_labels", sli.corrected_min_labels),
    )
    with transaction.atomic():
        for key, value in fields.items():
            setattr(sli, key, value)
        sli.save()
        if {"metric", "aggregation", "filters", "use_corrected", "corrected_min_labels"} & set(fields):
            AlertRule.objects.filter(sli=sli).update(version=F("version") + 1)
            for rule in AlertRule.objects.filter(sli=sli):
                _rule_reset(rule, reason="SLI edited: state reset")
    return sli


def sli_delete(*, sli: Sli) -> None:
    """Delete an SLI with its rules, their states and history."""
    sli.delete()


# --- rules ---------------------------------------------------------------------------------------------------------


def _rule_fields_clean(project: Project, fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "comparator" in out and out["comparator"] not in COMPARATORS:
        raise ValidationError({"comparator": f"use one of {' '.join(COMPARATORS)}"})
    if "threshold" in out and (out["threshold"] is None or not math.isfinite(float(out["threshold"]))):
        raise ValidationError({"threshold": "must be a finite number"})
    for name, field, low, high in (("window", "window", 60, MAX_WINDOW), ("for", "for_duration", 0, MAX_HOLD)):
        if field in out:
            try:
                seconds = duration_seconds(out[field])
            except DurationInvalid as exc:
                raise ValidationError({name: str(exc)}) from exc
            if not low <= seconds <= high:
                raise ValidationError({name: f"must be between {low}s and {high // 3600}h"})
    if out.get("objective") is not None:
        objective = float(out["objective"])
        if not 0.0 < objective < 1.0:
            raise ValidationError({"objective": "must be a fraction between 0 and 1 (0.97 is 97 %)"})
        sli = out.get("sli")
        if sli is not None and sli.aggregation not in SLO_AGGREGATIONS:
            raise ValidationError({"objective": f"an SLO needs an SLI aggregated as {', '.join(SLO_AGGREGATIONS)}"})
    if "slo_window" in out:
        try:
            seconds = duration_seconds(out["slo_window"])
        except DurationInvalid as exc:
            raise ValidationError({"slo_window": str(exc)}) from exc
        if not 3600 <= seconds <= 90 * 86400:
            raise ValidationError({"slo_window": "must be between 1h and 90d"})
    if "min_samples" in out and not 1 <= int(out["min_samples"]) <= 1_000_000:
        raise ValidationError({"min_samples": "must be between 1 and 1000000"})
    if "group_by" in out:
        group_by = list(out["group_by"] or [])
        bad = [d for d in group_by if d not in DIMENSIONS]
        if bad or len(set(group_by)) != len(group_by):
            raise ValidationError({"group_by": f"use distinct dimensions among {', '.join(DIMENSIONS)}"})
        out["group_by"] = [d for d in DIMENSIONS if d in group_by]
    if "sli" in out and (out["sli"] is None or out["sli"].project_id != project.id):
        raise ValidationError({"sli": "no such SLI in this project"})
    if "channels" in out:
        ids = list(out["channels"] or [])
        found = list(Channel.objects.filter(project=project, id__in=ids))
        if len(found) != len(set(ids)):
            raise ValidationError({"channels": "no such channel in this project"})
        out["channels"] = found
    return out


def alert_rule_create(
    *,
    project: Project,
    sli: Sli,
    comparator: str = ">",
    threshold: float = 0.0,
    window: str = "5m",
    min_samples: int = 10,
    for_duration: str = "0m",
    group_by: Sequence[str] = (),
    channels: Iterable[int] = (),
    name: str = "",
    is_enabled: bool = True,
    objective: float | None = None,
    slo_window: str = "28d",
) -> AlertRule:
    """Add an alert rule on an SLI (an SLO rule when `objective` is given); channels are channel ids."""
    data = _rule_fields_clean(
        project,
        {
            "sli": sli,
            "comparator": comparator,
            "threshold": threshold,
            "window": window,
            "min_samples": min_samples,
            "for_duration": for_duration,
            "group_by": group_by,
            "channels": channels,
            "objective": objective,
            "slo_window": slo_window,
        },
    )
    chosen = data.pop("channels")
    with transaction.atomic():
        rule = AlertRule.objects.create(project=project, name=name, is_enabled=is_enabled, **data)
        rule.channels.set(chosen)
    return rule


# Edits that change what the rule judges: each resets the rule's states (and the reset is recorded).
_JUDGING_FIELDS = {
    "sli",
    "comparator",
    "threshold",
    "window",
    "min_samples",
    "for_duration",
    "group_by",
    "objective",
    "slo_window",
}


def alert_rule_update(*, rule: AlertRule, **fields: Any) -> AlertRule:
    """Change a rule; a change to what it judges bumps its version and resets every state of it."""
    data = _rule_fields_clean(rule.project, {**fields, "sli": fields.get("sli", rule.sli)})
    if "sli" not in fields:
        data.pop("sli")
    chosen = data.pop("channels", None)
    with transaction.atomic():
        for key, value in data.items():
            setattr(rule, key, value)
        if _JUDGING_FIELDS & set(data):
            rule.version = F("version") + 1
        rule.save()
        rule.refresh_from_db()
        if chosen is not None:
            rule.channels.set(chosen)
        if _JUDGING_FIELDS & set(data):
            _rule_reset(rule, reason="rule edited: state reset")
    return rule


def alert_rule_delete(*, rule: AlertRule) -> None:
    """Delete a rule with its states and history."""
    rule.delete()


def alert_rule_mute(*, rule: AlertRule, muted: bool) -> None:
    """Mute (or unmute) a rule: it is still evaluated and recorded, but notifies nobody."""
    AlertRule.objects.filter(id=rule.id).update(muted=muted)


def _rule_reset(rule: AlertRule, *, reason: str) -> None:
    """Put every state of the rule back to ok under its current version, recording each reset once."""
    now = timezone.now()
    for alert in AlertState.objects.filter(rule=rule).exclude(rule_version=rule.version):
        done = AlertState.objects.filter(id=alert.id, seq=alert.seq).update(
            state=OK,
            seq=alert.seq + 1,
            rule_version=rule.version,
            since=now,
            started_at=None,
            acknowledged_at=None,
            acknowledged_by="",
        )
        if done:
            AlertFlip.objects.create(
                project_id=alert.project_id,
                rule=rule,
                alert=alert,
                seq=alert.seq + 1,
                from_state=alert.state,
                to_state=OK,
                reason=reason,
                value=alert.value,
                threshold=rule.threshold,
                samples=alert.samples,
                at=now,
                message=f"{reason} ({slice_text(alert.slice)})",
            )


# --- alerts: acknowledge and silence -------------------------------------------------------------------------------


def alert_acknowledge(*, alert: AlertState, by: str) -> bool:
    """Acknowledge a firing or pending alert (cleared by its next transition)."""
    return bool(
        AlertState.objects.filter(id=alert.id, seq=alert.seq).update(
            acknowledged_at=timezone.now(), acknowledged_by=by[:150]
        )
    )


def alert_silence(*, alert: AlertState, until: datetime | None) -> None:
    """Silence an alert's notifications until a time (None lifts the silence); transitions are still recorded."""
    AlertState.objects.filter(id=alert.id).update(silenced_until=until)


# --- evaluation ----------------------------------------------------------------------------------------------------


JUDGE_REGRESSION_TEMPLATE = "judge_regression"
JUDGE_REGRESSION_WINDOW = "7d"


def judge_regression_rules_sync(*, project: Project | None = None) -> list[int]:
    """Give every judge a regression alert: an SLI on its κ drop against its own baseline, alerting above the
    judge's regression margin to the project's enabled channels. Keep each rule's threshold at the margin.

    Judges sit below alerting and cannot create rules themselves: this runs with every rules_evaluate beat.
    """
    judges = Judge.objects.all() if project is None else Judge.objects.filter(project=project)
    judges = judges.exclude(name=settings.FEEDBACK_EMBEDDINGS_JUDGE or None)  # an embeddings endpoint grades nothing
    by_metric = {f"{JUDGE_REGRESSION_PREFIX}{judge.id}": judge for judge in judges.select_related("project")}
    # Two reads per beat whatever the number of judges: their SLIs, and their rules' thresholds.
    known = {
        metric
        for metric, project_id in Sli.objects.filter(metric__in=by_metric).values_list("metric", "project_id")
        if by_metric[metric].project_id == project_id  # a judge's SLI lives in the judge's project
    }
    created = []
    for metric, judge in by_metric.items():
        if metric in known:
            continue
        with transaction.atomic():
            sli, made = Sli.objects.get_or_create(
                project_id=judge.project_id,
                name=f"Judge agreement drop: {judge.name}"[:100],
                defaults={"metric": metric, "aggregation": "mean", "template": JUDGE_REGRESSION_TEMPLATE},
            )
            if not made:
                continue  # a person's SLI of that name: leave it alone
            channels = Channel.objects.filter(project_id=judge.project_id, is_enabled=True)
            rule = alert_rule_create(
                project=judge.project,
                sli=sli,
                comparator=">",
                threshold=judge.regression_margin,
                window=JUDGE_REGRESSION_WINDOW,
                min_samples=settings.JUDGE_BASELINE_MIN_LABELS,
                channels=channels.values_list("id", flat=True),
                name=f"Judge regression: {judge.name}"[:100],
            )
            created.append(rule.id)
    for rule in AlertRule.objects.filter(sli__metric__in=known).select_related("sli", "project"):
        judge = by_metric[rule.sli.metric]
        if rule.project_id == judge.project_id and rule.threshold != judge.regression_margin:
            alert_rule_update(rule=rule, threshold=judge.regression_margin)
    return created


def rules_evaluate(*, project: Project | None = None) -> list[int]:
    """Send one evaluation job per enabled rule (the beat job); return the rule ids sent."""
    from apps.slis.tasks import rule_evaluate_task

    judge_regression_rules_sync(project=project)
    rules = AlertRule.objects.filter(is_enabled=True)
    if project is not None:
        rules = rules.filter(project=project)
    sent = []
    for rule_id in rules.values_list("id", flat=True).order_by("id"):
        if task_enqueue(rule_evaluate_task, rule_id, expires=60):
            sent.append(rule_id)
    return sent


@dataclass(frozen=True)
class Judgement:
    """What one evaluation saw on one slice: the value, its samples, whether the condition holds (None: no data),
    and for SLO rules the burn rates (recorded as the alert's baseline)."""

    group: dict[str, str]
    value: float | None
    samples: int
    condition: bool | None
    detail: dict | None = None


def _judge_threshold(rule: AlertRule, spec: Any, end: datetime) -> dict[str, Judgement]:
    start = end - timedelta(seconds=duration_seconds(rule.window))
    values = sli_values(project=rule.project, sli=rule.sli, start=start, end=end, group_by=rule.group_by, spec=spec)
    out = {}
    for v in values:
        condition = breached(
            value=v.value,
            samples=v.samples,
            comparator=rule.comparator,
            threshold=rule.threshold,
            min_samples=rule.min_samples,
        )
        out[slice_key(v.group)] = Judgement(v.group, v.value, v.samples, condition)
    return out


def _judge_slo(rule: AlertRule, spec: Any, end: datetime) -> dict[str, Judgement]:
    """Burn rates of the error budget (bad share ÷ (1 − objective)) over each window of BURN_PAIRS, per slice."""
    budget = 1.0 - float(rule.objective)
    windows = sorted(
        {w for long, short, _ in BURN_PAIRS for w in (long, short)} | {rule.slo_window}, key=duration_seconds
    )
    rates: dict[str, dict[str, tuple[float | None, int]]] = {}
    groups: dict[str, dict[str, str]] = {}
    for window in windows:
        start = end - timedelta(seconds=duration_seconds(window))
        for v in sli_values(
            project=rule.project, sli=rule.sli, start=start, end=end, group_by=rule.group_by, spec=spec
        ):
            key = slice_key(v.group)
            groups[key] = v.group
            bad = bad_fraction(rule.sli.aggregation, v.value)
            rates.setdefault(key, {})[window] = (None if bad is None else bad / budget, v.samples)
    out = {}
    for key, burn in rates.items():
        condition, value, samples = burn_condition(burn, min_samples=rule.min_samples)
        spent = burn.get(rule.slo_window, (None, 0))[0]
        shown = ", ".join(f"{w} {burn[w][0]:.1f}×" for w in windows if w in burn and burn[w][0] is not None)
        detail = {
            "kind": "slo",
            "objective": rule.objective,
            "burn_rates": {w: burn[w][0] for w in windows if w in burn},
            "budget_left": None if spent is None else 1.0 - spent,
            "value": None if spent is None else 1.0 - spent,
            "description": (
                f"objective {rule.objective * 100:g} % over {rule.slo_window}; burn rates {shown}"
                + ("" if spent is None else f"; {max(0.0, 1.0 - spent) * 100:.0f} % of the budget left")
            ),
        }
        out[key] = Judgement(groups[key], value, samples, condition, detail)
    return out


def rule_evaluate(*, rule_id: int, now: datetime | None = None) -> list[AlertFlip]:
    """Judge every slice of one rule over its window from the minute rollups; return the transitions made.

    Safe to run twice at once: each transition is an UPDATE conditional on the state's `seq`, so of two
    evaluations that saw the same state only one records the transition and queues its notifications.
    """
    rule = AlertRule.objects.select_related("sli", "project").filter(id=rule_id, is_enabled=True).first()
    if rule is None:
        return []
    project, sli = rule.project, rule.sli
    now = now or timezone.now()
    end = floor_time(now, MINUTE) + timedelta(minutes=1)  # the current minute too: the drain keeps it fresh
    start = end - timedelta(seconds=duration_seconds(rule.window))
    spec = sli_spec(project=project, sli=sli)
    unit = "×" if rule.objective is not None else sli_unit(sli.aggregation, spec)
    judged = _judge_slo(rule, spec, end) if rule.objective is not None else _judge_threshold(rule, spec, end)
    _rule_reset(rule, reason="rule edited: state reset")  # states a concurrent edit left behind
    known = set(AlertState.objects.filter(rule=rule).values_list("slice_key", flat=True))
    new = [
        AlertState(project=project, rule=rule, slice_key=key, slice=j.group, rule_version=rule.version, since=now)
        for key, j in judged.items()
        if key not in known
    ]
    AlertState.objects.bulk_create(new, ignore_conflicts=True)  # a concurrent run may create the same
    previous: dict[str, SliValue] | None = None
    siblings: dict[str, SliValue] = {}
    hold = timedelta(seconds=duration_seconds(rule.for_duration))
    flips = []
    for alert in AlertState.objects.filter(rule=rule, rule_version=rule.version).order_by("id"):
        seen = judged.get(alert.slice_key) or Judgement(alert.slice, None, 0, None)
        value, samples, condition = seen.value, seen.samples, seen.condition
        state, started = state_next(
            state=alert.state, started_at=alert.started_at, condition=condition, now=now, hold=hold
        )
        if state == alert.state and started == alert.started_at:
            AlertState.objects.filter(id=alert.id, seq=alert.seq).update(value=value, samples=samples, evaluated_at=now)
            continue
        baseline = alert.baseline
        if state != alert.state and condition:
            if seen.detail is not None:
                baseline = seen.detail
            else:
                if previous is None:  # the previous day, before and up to now: read once for all breaching slices
                    previous, siblings = (
                        {
                            slice_key(v.group): v
                            for v in sli_values(
                                project=project,
                                sli=sli,
                                start=start - BASELINE_PERIOD,
                                end=until,
                                group_by=rule.group_by,
                                spec=spec,
                            )
                        }
                        for until in (start, end)
                    )
                baseline = baseline_for(
                    group=alert.slice,
                    previous=previous,
                    min_samples=rule.min_samples,
                    unit=unit,
                    siblings_period=siblings,
                )
        flip = _transition(
            rule,
            alert,
            state=state,
            started=started,
            value=value,
            samples=samples,
            baseline=baseline,
            now=now,
            unit=unit,
        )
        if flip is not None:
            flips.append(flip)
    AlertRule.objects.filter(id=rule.id).update(last_evaluated_at=now, last_error="", last_error_at=None)
    return flips


def alert_message(
    rule: AlertRule,
    group: Mapping[str, str],
    *,
    state: str,
    value: float | None,
    samples: int,
    baseline: Mapping[str, Any],
    unit: str,
) -> str:
    """Say what changed, where, and against what: `Refusal rate 11.8 % > 5 % for prompt_version=v14; baseline …`."""
    if rule.objective is not None:
        verb = "resolved: no longer burning" if state == RESOLVED else "burning"
        text = f"{rule.sli.name} {verb} its error budget at {value_format(value, unit)} for {slice_text(group)}"
        return f"{text} ({samples} samples in 1h); {baseline.get('description', '')}".rstrip("; ")
    head = f"{rule.sli.name} {value_format(value, unit)} {rule.comparator} {value_format(rule.threshold, unit)}"
    if state == RESOLVED and value is None:
        head = f"resolved (no data): {rule.sli.name} has fewer than {rule.min_samples} samples"
    elif state == RESOLVED:
        head = (
            f"resolved: {rule.sli.name} {value_format(value, unit)} (threshold {rule.comparator} "
            f"{value_format(rule.threshold, unit)})"
        )
    text = f"{head} for {slice_text(group)} over {rule.window} ({samples} samples)"
    if baseline.get("description"):
        text += f"; baseline {baseline['description']}"
    return text


def _transition(
    rule: AlertRule,
    alert: AlertState,
    *,
    state: str,
    started: datetime | None,
    value: float | None,
    samples: int,
    baseline: dict,
    now: datetime,
    unit: str,
) -> AlertFlip | None:
    """Make one transition if the state is still the one read (conditional on `seq`); record it and queue its
    notifications in the same transaction. Return None when another evaluation made it first."""
    seq = alert.seq + 1
    message = ""
    if state != alert.state:
        message = alert_message(
            rule, alert.slice, state=state, value=value, samples=samples, baseline=baseline, unit=unit
        )
    with transaction.atomic():
        changes: dict[str, Any] = {
            "state": state,
            "seq": seq,
            "started_at": started,
            "value": value,
            "samples": samples,
            "baseline": baseline,
            "evaluated_at": now,
        }
        if state != alert.state:
            changes["since"] = now
            changes["acknowledged_at"], changes["acknowledged_by"] = None, ""
        if not AlertState.objects.filter(id=alert.id, seq=alert.seq).update(**changes):
            return None
        if state == alert.state:
            return None  # pending that keeps holding: the state is the same, nothing to record
        flip = AlertFlip.objects.create(
            project_id=alert.project_id,
            rule=rule,
            alert=alert,
            seq=seq,
            from_state=alert.state,
            to_state=state,
            value=value,
            threshold=rule.threshold,
            samples=samples,
            baseline=baseline,
            message=message,
            at=now,
        )
        silenced = alert.silenced_until is not None and alert.silenced_until > now
        if state in (FIRING, RESOLVED) and not rule.muted and not silenced:
            _notifications_create(rule, alert, flip, started=started or alert.started_at)
    return flip


def alert_url(alert: AlertState) -> str:
    """Return the absolute link to an alert's page."""
    path = reverse("slis:alert", kwargs={"project_slug": alert.project.slug, "alert_id": alert.id})
    return f"{settings.SITE_URL}{path}"


def notification_payload(rule: AlertRule, alert: AlertState, flip: AlertFlip, *, started: datetime | None) -> dict:
    """The JSON every channel is built from (the webhook body as is)."""
    return {
        "id": f"{alert.id}:{flip.seq}",  # the same for every retry of this transition: receivers may dedupe
        "rule": {"id": rule.id, "name": str(rule), "comparator": rule.comparator},
        "sli": {
            "id": rule.sli_id,
            "name": rule.sli.name,
            "metric": rule.sli.metric,
            "aggregation": rule.sli.aggregation,
        },
        "state": flip.to_state,
        "slice": alert.slice,
        "value": flip.value,
        "threshold": rule.threshold,
        "samples": flip.samples,
        "window": rule.window,
        "baseline": flip.baseline,
        "started_at": started.isoformat() if started else None,
        "at": flip.at.isoformat(),
        "message": flip.message,
        "url": alert_url(alert),
    }


def _notifications_create(rule: AlertRule, alert: AlertState, flip: AlertFlip, *, started: datetime | None) -> None:
    channels = [c for c in rule.channels.all() if c.is_enabled]
    if not channels:
        return
    payload = notification_payload(rule, alert, flip, started=started)
    rows = Notification.objects.bulk_create(
        [Notification(project_id=alert.project_id, flip=flip, channel=c, payload=payload) for c in channels]
    )
    ids = [n.id for n in rows]
    transaction.on_commit(lambda: [notification_enqueue(notification_id=i) for i in ids])


def rule_evaluation_failed(*, rule_id: int, error: str) -> None:
    """Record an evaluation that failed after its retries: shown on the rule's page until one succeeds."""
    AlertRule.objects.filter(id=rule_id).update(last_error=error[:2000], last_error_at=timezone.now())


# --- channels and deliveries ---------------------------------------------------------------------------------------


def _target_check(kind: str, target: str) -> str:
    target = (target or "").strip()
    if kind not in Channel.Kind.values:
        raise ValidationError({"kind": f"use one of {', '.join(Channel.Kind.values)}"})
    if kind == Channel.Kind.EMAIL:
        from django.core.validators import validate_email

        try:
            validate_email(target)
        except ValidationError as exc:
            raise ValidationError({"target": "must be an email address"}) from exc
        return target
    try:
        outbound_url_check(target, allowed_hosts=settings.ALERT_ALLOWED_HOSTS)
    except OutboundRefused as exc:
        raise ValidationError({"target": str(exc).replace("JUDGE_ALLOWED_HOSTS", "ALERT_ALLOWED_HOSTS")}) from exc
    return target


def channel_create(*, project: Project, name: str, kind: str, target: str, is_enabled: bool = True) -> Channel:
    """Add a channel; a webhook URL must be http(s) and public (or allowed); a webhook gets a signing secret."""
    target = _target_check(kind, target)
    if Channel.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": f"a channel named {name!r} exists already"})
    secret = secrets.token_hex(24) if kind == Channel.Kind.WEBHOOK else ""
    return Channel.objects.create(
        project=project, name=name, kind=kind, target=target, secret=secret, is_enabled=is_enabled
    )


def channel_test_send(*, channel: Channel) -> Notification:
    """Queue a test notification to a channel ("Send test"): delivered and retried like any other."""
    now = timezone.now()
    payload = {
        "id": f"test:{secrets.token_hex(6)}",
        "test": True,
        "rule": {"id": None, "name": "test"},
        "sli": {"id": None, "name": "test"},
        "state": "firing",
        "slice": {},
        "value": None,
        "threshold": None,
        "samples": 0,
        "window": "",
        "baseline": {},
        "started_at": now.isoformat(),
        "at": now.isoformat(),
        "message": f"Test notification from Sightline to {channel.name}",
        "url": settings.SITE_URL,
    }
    notification = Notification.objects.create(
        project_id=channel.project_id, channel=channel, payload=payload, is_test=True
    )
    transaction.on_commit(lambda: notification_enqueue(notification_id=notification.id))
    return notification


NOTIFICATION_TIME_LIMIT = 40


def notification_job() -> RowJob:
    """The delivery job's row claim (attempts from settings, read when used)."""
    return RowJob(
        model=Notification,
        time_limit=NOTIFICATION_TIME_LIMIT,
        in_flight=60,
        max_attempts=settings.ALERT_DELIVERY_MAX_ATTEMPTS,
    )


def notification_backoff(attempts: int) -> float:
    """Seconds before the next attempt: the base doubling per attempt, capped."""
    base = settings.ALERT_DELIVERY_BACKOFF_SECONDS
    return float(min(settings.ALERT_DELIVERY_BACKOFF_CAP_SECONDS, base * 2 ** max(0, attempts - 1)))


def notification_enqueue(*, notification_id: int, countdown: float = 0.0) -> bool:
    """Send a delivery job; a broker outage marks the row unsent for the sweeper."""
    from apps.slis.tasks import notification_deliver_task

    options = {"countdown": countdown} if countdown else {}
    if task_enqueue(notification_deliver_task, notification_id, **options):
        return True
    job_mark_sent(notification_job(), row_ids=[notification_id], sent=False)
    return False


def notification_deliver(*, notification_id: int) -> tuple[Claim, float | None]:
    """Deliver one notification; return the claim and, after a failed attempt that will be retried, the delay.

    The row is claimed first, so a redelivered job or the sweeper never sends a delivered notification again.
    """
    job = notification_job()
    claim = job_claim(job, row_id=notification_id)
    if claim.outcome is not Outcome.CLAIMED:
        return claim, None
    notification = Notification.objects.select_related("channel").get(id=notification_id)
    try:
        status = transport_for(notification.channel).send(notification.channel, notification.payload)
    except TransportError as exc:
        if exc.permanent:
            job_finish(
                job,
                row_id=notification_id,
                token=claim.token,
                status=job.failed,
                error=str(exc)[:2000],
                response_status=exc.status,
            )
            return claim, None
        delay = notification_backoff(claim.attempts)
        outcome = job_release(
            job, row_id=notification_id, token=claim.token, error=str(exc), retry_in=delay, response_status=exc.status
        )
        return claim, delay if outcome == job.pending else None
    except Exception as exc:
        job_release(
            job,
            row_id=notification_id,
            token=claim.token,
            error=f"{type(exc).__name__}: {exc}",
            retry_in=notification_backoff(claim.attempts),
        )
        raise
    job_finish(
        job, row_id=notification_id, token=claim.token, error="", response_status=status, delivered_at=timezone.now()
    )
    return claim, None


def notifications_sweep(*, limit: int = 200) -> list[int]:
    """Send jobs for deliveries with none in flight (broker outage, dead worker, a retry whose message was lost)."""
    return job_sweep(notification_job(), send=lambda i: notification_enqueue(notification_id=i), limit=limit)


def notifications_prune(*, now: datetime | None = None, budget_seconds: float = 60.0) -> int:
    """Delete delivered notifications older than BOOKKEEPING_RETENTION_DAYS; failed ones stay to be seen."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.BOOKKEEPING_RETENTION_DAYS)
    done = Notification.objects.filter(status=Notification.Status.DONE, created_at__lt=cutoff)
    return rows_delete_in_batches(done, budget_seconds=budget_seconds)
