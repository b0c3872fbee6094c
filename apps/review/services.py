"""Writes and rules for review: routing traces into the queue, claiming items, and recording labels as scores."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from apps.core.queue import task_enqueue
from apps.projects.models import Project
from apps.review.models import (
    DEFAULT_CATEGORIES,
    LABEL_SCORE,
    VERDICT_SCORE,
    Label,
    ReviewItem,
    ReviewQueue,
    RoutingRule,
)
from apps.review.selectors import review_item_claimed_by
from apps.scores.models import Score
from apps.scores.selectors import score_rows_for_traces
from apps.scores.services import ScoreInput, scores_upsert
from apps.traces.selectors import trace_refs

Kind = RoutingRule.Kind
Status = ReviewItem.Status

# Feedback scores (written by apps/feedback) that count as negative user signal.
THUMBS_DOWN_SCORE = "thumbs_down"
RATING_SCORE = "rating"
NEGATIVE_RATING_MAX = 2.0
# Transaction-scoped advisory locks on one 64-bit key (a key space apart from the two-int keys ingest takes):
# routing of one project is serialized so the daily cap and reason merging read what they write, and labels of
# one trace so that each save counts every committed label.
ADVISORY_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"

DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {"kind": Kind.NEGATIVE_FEEDBACK, "priority": 90},
    {"kind": Kind.CHECK_FAILED, "priority": 70},
    {"kind": Kind.JUDGE_CONFIDENCE_BELOW, "threshold": 0.6, "priority": 50},
    {"kind": Kind.SCORE_BELOW, "score_name": "grounding", "threshold": 0.5, "priority": 60},
    {"kind": Kind.RANDOM_SAMPLE, "sample_percent": 2.0, "priority": 10, "reviews_required": 2},
)


# -- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    """A routing rule as given by a form or the API, before validation."""

    kind: str
    score_name: str = ""
    threshold: float | None = None
    sample_percent: float | None = None
    priority: int = 50
    reviews_required: int = 1
    is_enabled: bool = True


def _rule_clean(spec: RuleSpec) -> dict[str, Any]:
    """Return the rule's fields, checked for its kind; raise ValidationError naming the bad field."""
    if spec.kind not in Kind.values:
        raise ValidationError({"kind": f"unknown kind {spec.kind!r}; use one of {', '.join(Kind.values)}"})
    score_name = (spec.score_name or "").strip()
    threshold, percent = spec.threshold, spec.sample_percent
    if spec.kind == Kind.SCORE_BELOW:
        if not score_name:
            raise ValidationError({"score_name": "a score_below rule needs the score's name"})
        if threshold is None:
            raise ValidationError({"threshold": "a score_below rule needs a threshold"})
    if spec.kind == Kind.JUDGE_CONFIDENCE_BELOW:
        if threshold is None or not 0.0 <= threshold <= 1.0:
            raise ValidationError({"threshold": "judge confidence is from 0 to 1: give a threshold in that range"})
    if spec.kind == Kind.RANDOM_SAMPLE:
        if percent is None or not 0.0 <= percent <= 100.0:
            raise ValidationError({"sample_percent": "a random sample needs a percentage from 0 to 100"})
    else:
        percent = None
    if spec.kind not in (Kind.SCORE_BELOW, Kind.JUDGE_CONFIDENCE_BELOW):
        threshold = None
    if spec.kind in (Kind.NEGATIVE_FEEDBACK, Kind.RANDOM_SAMPLE):
        score_name = ""
    if not 1 <= int(spec.reviews_required) <= 5:
        raise ValidationError({"reviews_required": "between 1 and 5 reviews per item"})
    if not -1000 <= int(spec.priority) <= 1000:
        raise ValidationError({"priority": "a priority from -1000 to 1000"})
    return {
        "kind": spec.kind,
        "score_name": score_name[:100],
        "threshold": threshold,
        "sample_percent": percent,
        "priority": int(spec.priority),
        "reviews_required": int(spec.reviews_required),
        "is_enabled": bool(spec.is_enabled),
    }


def routing_rule_create(*, project: Project, spec: RuleSpec) -> RoutingRule:
    """Add a routing rule to the project."""
    return RoutingRule.objects.create(project=project, **_rule_clean(spec))


def routing_rule_update(*, rule: RoutingRule, spec: RuleSpec) -> RoutingRule:
    """Replace a rule's settings (already-queued items keep their reasons)."""
    fields = _rule_clean(spec)
    for name, value in fields.items():
        setattr(rule, name, value)
    rule.save(update_fields=[*fields, "updated_at"])
    return rule


def review_queue_update(*, project: Project, daily_cap: int, categories: Iterable[str]) -> ReviewQueue:
    """Set the project's daily cap and label categories (blank and repeated categories dropped, order kept)."""
    if not 0 <= int(daily_cap) <= 100_000:
        raise ValidationError({"daily_cap": "a daily cap from 0 to 100000"})
    cleaned: list[str] = []
    for category in categories:
        category = " ".join(str(category).split())[:50]
        if category and category not in cleaned:
            cleaned.append(category)
    if len(cleaned) > 20:
        raise ValidationError({"categories": "at most 20 categories"})
    queue = review_queue_ensure(project=project)
    queue.daily_cap, queue.categories = int(daily_cap), cleaned
    queue.save(update_fields=["daily_cap", "categories", "updated_at"])
    return queue


def review_queue_ensure(*, project: Project) -> ReviewQueue:
    """Return the project's queue settings, created with the defaults when missing."""
    queue, _ = ReviewQueue.objects.get_or_create(project=project, defaults={"categories": list(DEFAULT_CATEGORIES)})
    return queue


def review_defaults_create(*, project: Project) -> list[RoutingRule]:
    """Give a project the default queue settings and routing rules (idempotent: only a project without rules)."""
    review_queue_ensure(project=project)
    if RoutingRule.objects.filter(project=project).exists():
        return []
    return [RoutingRule.objects.create(project=project, **rule) for rule in DEFAULT_RULES]


# -- routing ---------------------------------------------------------------------------------------


def in_random_sample(*, trace_id: str, percent: float) -> bool:
    """Decide deterministically from the trace id whether a trace is in the review sample (re-runs agree)."""
    if percent >= 100.0:
        return True
    if percent <= 0.0:
        return False
    digest = hashlib.blake2b(f"review:{trace_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < percent / 100.0


@dataclass
class _Match:
    reasons: list[dict[str, Any]] = field(default_factory=list)
    priority: int = -(10**6)
    reviews_required: int = 1

    def add(self, rule: RoutingRule, text: str) -> None:
        self.reasons.append({"rule_id": rule.id, "kind": rule.kind, "text": text})
        self.priority = max(self.priority, rule.priority)
        self.reviews_required = max(self.reviews_required, rule.reviews_required)


def _rule_matches(rule: RoutingRule, trace_id: str, scores: list[tuple]) -> str | None:
    """Return why the rule sends this trace to review, or None. `scores` are (name, source, value, passed, conf)."""
    if rule.kind == Kind.RANDOM_SAMPLE:
        percent = rule.sample_percent or 0.0
        return f"random {percent:g}% sample" if in_random_sample(trace_id=trace_id, percent=percent) else None
    for name, source, value, passed, confidence in scores:
        if rule.score_name and name != rule.score_name and rule.kind != Kind.NEGATIVE_FEEDBACK:
            continue
        if rule.kind == Kind.SCORE_BELOW and value is not None and value < rule.threshold:
            return f"{name} = {value:.3g} < {rule.threshold:g}"
        if rule.kind == Kind.CHECK_FAILED and source == Score.Source.PROGRAMMATIC and passed is False:
            return f"check {name} failed"
        if rule.kind == Kind.JUDGE_CONFIDENCE_BELOW and source == Score.Source.JUDGE:
            if isinstance(confidence, (int, float)) and confidence < rule.threshold:
                return f"judge {name} confidence {confidence:.2f} < {rule.threshold:g}"
        if rule.kind == Kind.NEGATIVE_FEEDBACK and source == Score.Source.FEEDBACK and value is not None:
            if name == THUMBS_DOWN_SCORE and value >= 1.0:
                return "thumbs down"
            if name == RATING_SCORE and value <= NEGATIVE_RATING_MAX:
                return f"rating {value:g}"
    return None


@dataclass(frozen=True)
class RoutingResult:
    """What one routing pass did."""

    created: int = 0
    updated: int = 0
    capped: int = 0


def review_route(*, project_id: int, trace_pks: Sequence[int], kinds: Sequence[str] | None = None) -> RoutingResult:
    """Apply the project's enabled routing rules to traces: queue new items (within the daily cap), add reasons.

    1. Match every enabled rule (of `kinds`, when given) against each trace and its scores.
    2. Under a per-project advisory lock: insert items for traces not queued yet, highest priority first,
       up to what is left of today's cap.
    3. Items already queued get the reasons they lack, and their priority and reviews raised (conditional UPDATE).
    Running it twice changes nothing the second time.
    """
    rules = list(RoutingRule.objects.filter(project_id=project_id, is_enabled=True).order_by("-priority", "id"))
    if kinds is not None:
        rules = [r for r in rules if r.kind in kinds]
    if not rules or not trace_pks:
        return RoutingResult()
    refs = trace_refs(project_id=project_id, trace_pks=trace_pks)
    by_trace: dict[int, list[tuple]] = {}
    if any(r.kind != Kind.RANDOM_SAMPLE for r in rules):
        for pk, name, source, value, passed, confidence in score_rows_for_traces(
            project_id=project_id, trace_pks=trace_pks, exclude_sources=[Score.Source.HUMAN]
        ):
            by_trace.setdefault(pk, []).append((name, source, value, passed, confidence))
    matches: dict[int, tuple[str, datetime, _Match]] = {}
    for pk, trace_id, started_at in refs:
        match = _Match()
        for rule in rules:
            text = _rule_matches(rule, trace_id, by_trace.get(pk, []))
            if text is not None:
                match.add(rule, text)
        if match.reasons:
            matches[pk] = (trace_id, started_at, match)
    if not matches:
        return RoutingResult()
    return _items_merge(project_id, matches)


@transaction.atomic
def _items_merge(project_id: int, matches: dict[int, tuple[str, datetime, _Match]]) -> RoutingResult:
    with connection.cursor() as cursor:
        cursor.execute(ADVISORY_LOCK_SQL, [f"review:route:{project_id}"])
    existing = dict(
        ReviewItem.objects.filter(project_id=project_id, trace_pk__in=list(matches)).values_list("trace_pk", "reasons")
    )
    updated = 0
    for pk, reasons in existing.items():
        known = {r.get("rule_id") for r in reasons}
        match = matches[pk][2]
        new = [r for r in match.reasons if r["rule_id"] not in known]
        if new:
            updated += _item_reasons_add(project_id, pk, new, match)
    fresh = sorted((pk for pk in matches if pk not in existing), key=lambda pk: -matches[pk][2].priority)
    if not fresh:
        return RoutingResult(updated=updated)
    queue = ReviewQueue.objects.filter(project_id=project_id).first()
    cap = queue.daily_cap if queue is not None else 200
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    room = max(0, cap - ReviewItem.objects.filter(project_id=project_id, created_at__gte=midnight).count())
    rows = [
        ReviewItem(
            project_id=project_id,
            trace_pk=pk,
            trace_id=matches[pk][0],
            trace_started_at=matches[pk][1],
            reasons=matches[pk][2].reasons,
            priority=matches[pk][2].priority,
            reviews_required=matches[pk][2].reviews_required,
        )
        for pk in fresh[:room]
    ]
    ReviewItem.objects.bulk_create(rows, ignore_conflicts=True)  # unique (project, trace_pk)
    return RoutingResult(created=len(rows), updated=updated, capped=len(fresh) - len(rows))


def _item_reasons_add(project_id: int, trace_pk: int, new: list[dict[str, Any]], match: _Match) -> int:
    """Append reasons an item lacks and raise its priority and reviews; a done item short of reviews reopens."""
    probe = json.dumps([{"rule_id": r["rule_id"]} for r in new])
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE review_reviewitem SET
                reasons = reasons || %(new)s::jsonb,
                priority = GREATEST(priority, %(priority)s),
                reviews_required = GREATEST(reviews_required, %(required)s),
                status = CASE WHEN status = 'done' AND reviews_done < GREATEST(reviews_required, %(required)s)
                              THEN 'pending' ELSE status END,
                updated_at = now()
            WHERE project_id = %(project_id)s AND trace_pk = %(trace_pk)s AND NOT (reasons @> %(probe)s::jsonb)
            """,
            {
                "new": json.dumps(new),
                "priority": match.priority,
                "required": match.reviews_required,
                "project_id": project_id,
                "trace_pk": trace_pk,
                "probe": probe,
            },
        )
        return cursor.rowcount


def review_route_batch(*, project_id: int, trace_pks: Sequence[int]) -> RoutingResult:
    """After an ingest batch: apply the random sample, which needs no score (an INGEST_BATCH_CONSUMERS entry)."""
    return review_route(project_id=project_id, trace_pks=trace_pks, kinds=[Kind.RANDOM_SAMPLE])


def review_scores_written(*, project_id: int, trace_pks: Sequence[int], sources: Sequence[str]) -> None:
    """Scores were committed: enqueue routing for their traces (labels, being human scores, route nothing)."""
    if not set(sources) - {Score.Source.HUMAN}:
        return
    from apps.review.tasks import review_route_task

    task_enqueue(review_route_task, project_id, list(trace_pks))


# -- the queue -------------------------------------------------------------------------------------


CLAIM_SQL = """
UPDATE review_reviewitem SET status = 'claimed', claimed_by_id = %(user_id)s, claimed_until = %(until)s,
       updated_at = %(now)s
WHERE id = (
    SELECT i.id FROM review_reviewitem i
    WHERE i.project_id = %(project_id)s
      AND (i.status = 'pending' OR (i.status = 'claimed' AND i.claimed_until < %(now)s))
      AND NOT (%(user_id)s = ANY(i.skipped_by))
      AND NOT EXISTS (SELECT 1 FROM review_label l WHERE l.item_id = i.id AND l.reviewer_id = %(user_id)s)
    ORDER BY i.priority DESC, i.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""


def review_item_claim(*, project: Project, user: AbstractBaseUser, now: datetime | None = None) -> ReviewItem | None:
    """Claim the highest-priority open item for the reviewer (their live claim first); None when nothing is left.

    The claim is a lock with an expiry (REVIEW_CLAIM_SECONDS): a row locked by a concurrent claim is skipped, so two
    reviewers never get the same item, and an item whose claim expired is offered again. A reviewer is never
    offered an item they labeled or skipped.
    """
    now = now or timezone.now()
    mine = review_item_claimed_by(project=project, user=user, now=now)
    if mine is not None:
        return mine
    until = now + timedelta(seconds=settings.REVIEW_CLAIM_SECONDS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, {"user_id": user.pk, "until": until, "now": now, "project_id": project.id})
        row = cursor.fetchone()
    if row is None:
        return None
    return ReviewItem.objects.get(id=row[0])


def review_item_release(*, project: Project, user: AbstractBaseUser, item_id: int, skip: bool = False) -> bool:
    """Give the reviewer's claim back to the queue (with skip, never offer it to them again). Return if it changed."""
    changes: dict[str, Any] = {"status": Status.PENDING, "claimed_by": None, "claimed_until": None}
    updated = ReviewItem.objects.filter(project=project, id=item_id, status=Status.CLAIMED, claimed_by=user).update(
        updated_at=timezone.now(), **changes
    )
    if skip:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE review_reviewitem SET skipped_by = array_append(skipped_by, %s::bigint) "
                "WHERE id = %s AND project_id = %s AND NOT (%s::bigint = ANY(skipped_by))",
                [user.pk, item_id, project.id, user.pk],
            )
            updated = max(updated, cursor.rowcount)
    return bool(updated)


# -- labels ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelInput:
    """A reviewer's label as submitted."""

    verdict: str
    categories: Sequence[str] = ()
    corrected_answer: str = ""
    notes: str = ""


def _label_clean(queue: ReviewQueue, data: LabelInput) -> LabelInput:
    if data.verdict not in Label.Verdict.values:
        raise ValidationError({"verdict": "choose pass or fail"})
    unknown = [c for c in data.categories if c not in queue.categories]
    if unknown:
        raise ValidationError({"categories": f"unknown category {unknown[0]!r}"})
    categories = [c for c in queue.categories if c in set(data.categories)]  # the project's order, no repeats
    return LabelInput(data.verdict, categories, data.corrected_answer.strip(), data.notes.strip())


@transaction.atomic
def label_record(
    *,
    project: Project,
    user: AbstractBaseUser,
    trace_pk: int,
    trace_id: str,
    data: LabelInput,
    item_id: int | None = None,
) -> Label:
    """Record (or replace) the reviewer's label of a trace, finish their claim, and write the human scores.

    A label from the trace page counts toward the trace's queue item when it has one.
    """
    data = _label_clean(review_queue_ensure(project=project), data)
    with connection.cursor() as cursor:
        cursor.execute(ADVISORY_LOCK_SQL, [f"review:label:{project.id}:{trace_pk}"])
    item = ReviewItem.objects.filter(project=project, trace_pk=trace_pk).first()
    if item_id is not None and (item is None or item.id != item_id):
        raise ValidationError({"item": "this item is not the trace's queue item"})
    label, _ = Label.objects.update_or_create(
        project=project,
        trace_pk=trace_pk,
        reviewer=user,
        defaults={
            "item": item,
            "trace_id": trace_id,
            "verdict": data.verdict,
            "categories": list(data.categories),
            "corrected_answer": data.corrected_answer,
            "notes": data.notes,
        },
    )
    if item is not None:
        _item_progress(item.id, user)
    _label_scores_write(project, trace_pk)
    return label


def _item_progress(item_id: int, user: AbstractBaseUser) -> None:
    """Count the item's labels; done once it has enough, else open again (the reviewer's claim ends either way)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE review_reviewitem i SET
                reviews_done = c.n,
                status = CASE WHEN c.n >= i.reviews_required THEN 'done'
                              WHEN i.claimed_by_id = %(user_id)s OR i.claimed_by_id IS NULL THEN 'pending'
                              ELSE i.status END,
                claimed_by_id = CASE WHEN i.claimed_by_id = %(user_id)s THEN NULL ELSE i.claimed_by_id END,
                claimed_until = CASE WHEN i.claimed_by_id = %(user_id)s THEN NULL ELSE i.claimed_until END,
                updated_at = now()
            FROM (SELECT count(*) AS n FROM review_label WHERE item_id = %(item_id)s) c
            WHERE i.id = %(item_id)s
            """,
            {"item_id": item_id, "user_id": user.pk},
        )


def _label_scores_write(project: Project, trace_pk: int) -> None:
    """Write each reviewer's label and the trace's consensus verdict as `human` scores."""
    labels = list(Label.objects.filter(project=project, trace_pk=trace_pk).select_related("reviewer"))
    items = [
        ScoreInput(
            trace_pk=trace_pk,
            name=LABEL_SCORE,
            source=Score.Source.HUMAN,
            value=1.0 if label.verdict == Label.Verdict.PASS else 0.0,
            passed=label.verdict == Label.Verdict.PASS,
            label=label.verdict,
            explanation=label.notes,
            evaluator_version=f"reviewer:{label.reviewer_id}",
            metadata={
                "reviewer": label.reviewer.get_username(),
                "reviewer_id": label.reviewer_id,
                "categories": label.categories,
                "corrected_answer": label.corrected_answer,
                "label_id": label.id,
            },
        )
        for label in labels
    ]
    passes = sum(1 for label in labels if label.verdict == Label.Verdict.PASS)
    fails = len(labels) - passes
    consensus = "pass" if passes > fails else "fail" if fails > passes else "disputed"
    categories = sorted({c for label in labels if label.verdict == Label.Verdict.FAIL for c in label.categories})
    items.append(
        ScoreInput(
            trace_pk=trace_pk,
            name=VERDICT_SCORE,
            source=Score.Source.HUMAN,
            value=passes / len(labels),
            passed=None if consensus == "disputed" else consensus == "pass",
            label=consensus,
            metadata={"labels": len(labels), "pass": passes, "fail": fails, "categories": categories},
        )
    )
    scores_upsert(project=project, items=items)
