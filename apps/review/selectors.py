"""Reads for review: rules, queue items, labels, and the overview's figures (throughput, agreement)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from apps.projects.models import Project
from apps.review.agreement import cohen_kappa
from apps.review.models import Label, ReviewItem, ReviewQueue, RoutingRule
from apps.scores.corrected import CalibrationPair
from apps.traces.models import TRACE_PARTITION_WINDOW, Trace
from apps.traces.selectors import TracePagePanel

Status = ReviewItem.Status


def routing_rule_list(*, project: Project) -> QuerySet[RoutingRule]:
    """Return the project's routing rules, highest priority first."""
    return RoutingRule.objects.filter(project=project).order_by("-priority", "id")


def routing_rule_get(*, project: Project, rule_id: int) -> RoutingRule | None:
    """Return one rule of the project, or None."""
    return RoutingRule.objects.filter(project=project, id=rule_id).first()


def review_queue_get(*, project: Project) -> ReviewQueue:
    """Return the project's queue settings (unsaved defaults when it has none yet)."""
    return ReviewQueue.objects.filter(project=project).first() or ReviewQueue(project=project)


def _status_q(status: str, now: datetime) -> Q:
    """Items in a status as reviewers see it: an expired claim counts as pending again."""
    if status == Status.PENDING:
        return Q(status=Status.PENDING) | Q(status=Status.CLAIMED, claimed_until__lt=now)
    if status == Status.CLAIMED:
        return Q(status=Status.CLAIMED, claimed_until__gte=now)
    return Q(status=status)


def review_item_list(*, project: Project, status: str = "", now: datetime | None = None) -> QuerySet[ReviewItem]:
    """Return the project's items (of a status, when given), highest priority first."""
    qs = ReviewItem.objects.filter(project=project)
    if status:
        qs = qs.filter(_status_q(status, now or timezone.now()))
    return qs.order_by("-priority", "-id")


def review_item_get(*, project: Project, item_id: int) -> ReviewItem | None:
    """Return one item of the project, or None."""
    return ReviewItem.objects.filter(project=project, id=item_id).first()


def review_item_for_trace(*, project: Project, trace_pk: int) -> ReviewItem | None:
    """Return the trace's queue item, or None."""
    return ReviewItem.objects.filter(project=project, trace_pk=trace_pk).first()


def label_get(*, project: Project, trace_pk: int, user_id: int) -> Label | None:
    """Return the user's label of a trace, or None."""
    return Label.objects.filter(project=project, trace_pk=trace_pk, reviewer_id=user_id).first()


def review_item_counts(*, project: Project, now: datetime | None = None) -> dict[str, int]:
    """Return the number of items per status (expired claims counted as pending)."""
    now = now or timezone.now()
    return {s: ReviewItem.objects.filter(Q(project=project) & _status_q(s, now)).count() for s in Status.values}


def review_items_by_reason(*, project: Project, now: datetime | None = None) -> list[tuple[str, dict[str, int]]]:
    """Return, per reason kind, the number of items per status (an item with two reasons counts under both)."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT r ->> 'kind',
                   CASE WHEN i.status = 'claimed' AND i.claimed_until < %s THEN 'pending' ELSE i.status END,
                   count(*)
            FROM review_reviewitem i, jsonb_array_elements(i.reasons) r
            WHERE i.project_id = %s GROUP BY 1, 2 ORDER BY 1
            """,
            [now, project.id],
        )
        rows = cursor.fetchall()
    out: dict[str, dict[str, int]] = {}
    for kind, status, n in rows:
        out.setdefault(kind, {s: 0 for s in Status.values})[status] = n
    return list(out.items())


@dataclass(frozen=True)
class ReviewerStats:
    """One reviewer's throughput."""

    username: str
    last_24h: int
    last_7d: int
    total: int


def reviewer_throughput(*, project: Project, now: datetime | None = None) -> list[ReviewerStats]:
    """Return labels per reviewer: last 24 h, last 7 days and in total, busiest first."""
    now = now or timezone.now()
    rows = (
        Label.objects.filter(project=project)
        .values("reviewer__username")
        .annotate(
            total=Count("id"),
            day=Count("id", filter=Q(created_at__gte=now - timedelta(days=1))),
            week=Count("id", filter=Q(created_at__gte=now - timedelta(days=7))),
        )
        .order_by("-total", "reviewer__username")
    )
    return [ReviewerStats(r["reviewer__username"], r["day"], r["week"], r["total"]) for r in rows]


@dataclass(frozen=True)
class Agreement:
    """Agreement on traces labeled at least twice: the first two labels of each, compared."""

    pairs: int
    agreed: int
    kappa: float | None


def review_agreement(*, project: Project) -> Agreement:
    """Return Cohen's κ between the first and second label of each trace labeled by two or more reviewers."""
    by_trace: dict[int, list[str]] = {}
    twice = (Label.objects.filter(project=project).values("trace_pk").annotate(n=Count("id")).filter(n__gte=2)).values(
        "trace_pk"
    )
    labels = Label.objects.filter(project=project, trace_pk__in=twice).order_by("trace_pk", "created_at", "id")
    for trace_pk, verdict in labels.values_list("trace_pk", "verdict"):
        by_trace.setdefault(trace_pk, []).append(verdict)
    pairs = [(v[0], v[1]) for v in by_trace.values() if len(v) >= 2]
    return Agreement(len(pairs), sum(1 for a, b in pairs if a == b), cohen_kappa(pairs))


def review_item_claimed_by(*, project: Project, user: object, now: datetime | None = None) -> ReviewItem | None:
    """Return the user's live claim in the project, or None (a reload shows the same item, takes no other)."""
    return (
        ReviewItem.objects.filter(
            project=project, status=Status.CLAIMED, claimed_by=user, claimed_until__gte=now or timezone.now()
        )
        .order_by("-priority", "id")
        .first()
    )


def label_list_for_trace(*, project: Project, trace_pk: int) -> QuerySet[Label]:
    """Return a trace's labels with their reviewers, oldest first."""
    return Label.objects.filter(project=project, trace_pk=trace_pk).select_related("reviewer").order_by("created_at")


def trace_annotate_panel(*, trace: Trace) -> TracePagePanel:
    """The trace page's human-label section (registered with traces in ReviewConfig.ready), loaded as a fragment."""
    return TracePagePanel("review/_trace_annotate.html", {})


# The random calibration sample's labels joined to a judge's verdicts. Only items queued by a random_sample rule
# count: routed items (failed checks, thumbs down, low confidence) are chosen by outcome and would bias the
# correction. The human side is the trace's consensus (`human_verdict`; a disputed one is left out), the judge side
# the metric's latest judge score of the trace. The range is on the label's copy of the trace's start: the scores
# index (project, name, -trace_started_at) then reads only the range's labels, and each finds its item and judge
# score by key (~35 µs a pair: 6,000 pairs, 30 days of a 2 % sample, in ~0.2 s).
RANDOM_SAMPLE_PAIRS_SQL = """
SELECT i.trace_pk, h.passed, j.passed, j.model, j.prompt_version, j.route, j.environment
FROM review_reviewitem i
JOIN scores_score h
  ON h.project_id = i.project_id AND h.trace_id = i.trace_pk AND h.name = %(verdict)s AND h.source = 'human'
 AND h.span_id = '' AND h.passed IS NOT NULL
 AND h.trace_started_at >= %(start)s AND h.trace_started_at < %(end)s
 AND h.partition_at >= %(p_lo)s AND h.partition_at < %(p_hi)s
JOIN LATERAL (
    SELECT s.passed, s.model, s.prompt_version, s.route, s.environment
    FROM scores_score s
    WHERE s.project_id = i.project_id AND s.trace_id = i.trace_pk AND s.name = %(metric)s AND s.source = 'judge'
      AND s.passed IS NOT NULL AND s.partition_at >= %(p_lo)s AND s.partition_at < %(p_hi)s
    ORDER BY s.updated_at DESC, s.id DESC
    LIMIT 1
) j ON true
WHERE i.project_id = %(project)s AND i.reasons @> %(random)s::jsonb
"""


def random_sample_label_judge_pairs(
    project: Project, metric: str, start: datetime, end: datetime, filters: Mapping[str, str]
) -> list[CalibrationPair]:
    """Return (human consensus, judge verdict) of each labeled random-sample trace that started in [start, end) and
    that the judge of `metric` scored, in the slice of `filters` (registered with scores' calibration_pairs)."""
    from apps.review.services import VERDICT_SCORE  # services import this module: a late import avoids a cycle

    dims = ("model", "prompt_version", "route", "environment")
    params = {
        "project": project.pk,
        "metric": metric,
        "verdict": VERDICT_SCORE,
        "random": json.dumps([{"kind": RoutingRule.Kind.RANDOM_SAMPLE}]),
        "start": start,
        "end": end,
        # scores share their trace's partition_at, within a day of its start: prune the partitions
        "p_lo": start - TRACE_PARTITION_WINDOW,
        "p_hi": end + TRACE_PARTITION_WINDOW,
    }
    with connection.cursor() as cursor:
        cursor.execute(RANDOM_SAMPLE_PAIRS_SQL, params)
        rows = cursor.fetchall()
    pairs = []
    for trace_pk, human, judge, *values in rows:
        slice_dims = dict(zip(dims, values, strict=True))
        if all(slice_dims.get(k) == v for k, v in filters.items()):
            pairs.append(CalibrationPair(trace_pk, bool(human), bool(judge), slice_dims))
    return pairs


@dataclass(frozen=True)
class CalibrationLabel:
    """The human consensus on one labeled trace, and whether the trace came from the random sample."""

    trace_pk: int
    trace_id: str
    passed: bool
    sample: str  # "random": picked by a random_sample rule (representative); "routed": anything else
    labeled_at: datetime


RANDOM, ROUTED = "random", "routed"


def calibration_labels(
    *,
    project: Project,
    sample: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[CalibrationLabel]:
    """Return the human verdict of each labeled trace (majority of its labels; ties left out), oldest label first.

    A trace counts as random-sample when its queue item lists a random_sample reason, even if a rule routed it too:
    the random draw picked it regardless, so it stays representative. `since`/`until` bound the last label's time.
    This is the calibration set of the judges, and with `sample="random"` the human side of bias-corrected metrics.
    """
    labels = Label.objects.filter(project=project).values("trace_pk", "trace_id")
    labels = labels.annotate(
        passes=Count("id", filter=Q(verdict=Label.Verdict.PASS)),
        fails=Count("id", filter=Q(verdict=Label.Verdict.FAIL)),
        last=Max("created_at"),
    )
    if since is not None:
        labels = labels.filter(last__gte=since)
    if until is not None:
        labels = labels.filter(last__lt=until)
    rows = [r for r in labels.order_by("last", "trace_pk") if r["passes"] != r["fails"]]
    random_pks = set(
        ReviewItem.objects.filter(
            project=project,
            trace_pk__in=[r["trace_pk"] for r in rows],
            reasons__contains=[{"kind": RoutingRule.Kind.RANDOM_SAMPLE}],
        ).values_list("trace_pk", flat=True)
    )
    out = [
        CalibrationLabel(
            trace_pk=r["trace_pk"],
            trace_id=r["trace_id"],
            passed=r["passes"] > r["fails"],
            sample=RANDOM if r["trace_pk"] in random_pks else ROUTED,
            labeled_at=r["last"],
        )
        for r in rows
    ]
    return [c for c in out if sample is None or c.sample == sample]
