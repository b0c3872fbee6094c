"""Reads for review: rules, queue items, labels, and the overview's figures (throughput, agreement)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.projects.models import Project
from apps.review.agreement import cohen_kappa
from apps.review.models import VERDICT_SCORE, Label, ReviewItem, ReviewQueue, RoutingRule
from apps.scores.corrected import RandomSamplePair
from apps.scores.models import Score
from apps.scores.rollups import DIMENSIONS
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


RANDOM, ROUTED = "random", "routed"


def review_items_random_sample(*, project: Project) -> QuerySet[ReviewItem]:
    """Return the project's queue items that a random_sample rule picked: the representative calibration sample.

    An item counts even if a rule routed it too: the draw (from the trace id, before any score existed) picked it
    regardless. Every reading of "the random sample" goes through here.
    """
    return ReviewItem.objects.filter(project=project, reasons__contains=[{"kind": RoutingRule.Kind.RANDOM_SAMPLE}])


def human_consensus_scores(
    *, project: Project, sample: str | None = None, started: tuple[datetime, datetime] | None = None
) -> QuerySet[Score]:
    """Return the `human_verdict` scores that hold a consensus (a disputed one is left out), with `is_random`.

    This score is the one source of a trace's human consensus: label_record rewrites it on every label (majority
    of the trace's labels, a tie disputed). `sample` keeps RANDOM or ROUTED only; `started` bounds the trace's
    start, [from, to), and prunes the score partitions.
    """
    qs = Score.objects.filter(
        project=project, name=VERDICT_SCORE, source=Score.Source.HUMAN, span_id="", passed__isnull=False
    )
    if started is not None:
        # scores share their trace's partition_at, within a day of its start
        qs = qs.filter(
            trace_started_at__gte=started[0],
            trace_started_at__lt=started[1],
            partition_at__gte=started[0] - TRACE_PARTITION_WINDOW,
            partition_at__lt=started[1] + TRACE_PARTITION_WINDOW,
        )
    picked = Exists(review_items_random_sample(project=project).filter(trace_pk=OuterRef("trace_id")))
    qs = qs.annotate(is_random=picked)
    if sample == RANDOM:
        qs = qs.filter(is_random=True)
    elif sample == ROUTED:
        qs = qs.filter(is_random=False)
    return qs


@dataclass(frozen=True)
class HumanConsensus:
    """The human consensus on one labeled trace, and whether the trace came from the random sample."""

    trace_pk: int
    passed: bool
    sample: str  # RANDOM: picked by a random_sample rule (representative); ROUTED: anything else
    labeled_at: datetime  # when the consensus was last written, i.e. the trace's latest label


def human_consensus_list(*, project: Project, sample: str | None = None) -> list[HumanConsensus]:
    """Return each labeled trace's consensus (ties left out), oldest first: the calibration set of the judges."""
    rows = (
        human_consensus_scores(project=project, sample=sample)
        .order_by("updated_at", "trace_id")
        .values_list("trace_id", "passed", "is_random", "updated_at")
    )
    return [HumanConsensus(pk, passed, RANDOM if is_random else ROUTED, at) for pk, passed, is_random, at in rows]


def random_sample_label_judge_pairs(
    project: Project, metric: str, start: datetime, end: datetime, filters: Mapping[str, str]
) -> list[RandomSamplePair]:
    """Return (human consensus, judge verdict) of each labeled random-sample trace that started in [start, end) and
    that the judge of `metric` scored, in the slice of `filters` (registered with scores' calibration_pairs).

    Only random-sample items count: routed ones (failed checks, thumbs down, low confidence) are chosen by outcome
    and would bias the correction. The judge side is the metric's latest judge score of the trace. Two index
    reads: the range's consensus scores (scores index project, name, -trace_started_at, each with its item by
    key), then the judge scores of those traces by key (score_uniq_eval).
    """
    human = dict(
        human_consensus_scores(project=project, sample=RANDOM, started=(start, end)).values_list("trace_id", "passed")
    )
    if not human:
        return []
    judged = (
        Score.objects.filter(
            project=project,
            trace_id__in=list(human),
            name=metric,
            source=Score.Source.JUDGE,
            passed__isnull=False,
            partition_at__gte=start - TRACE_PARTITION_WINDOW,
            partition_at__lt=end + TRACE_PARTITION_WINDOW,
        )
        .order_by("trace_id", "-updated_at", "-id")
        .distinct("trace_id")
        .values_list("trace_id", "passed", *DIMENSIONS)
    )
    pairs = []
    for trace_pk, judge, *values in judged:
        slice_dims = dict(zip(DIMENSIONS, values, strict=True))
        if all(slice_dims.get(k) == v for k, v in filters.items()):
            pairs.append(RandomSamplePair(trace_pk, human[trace_pk], judge, slice_dims))
    return pairs
