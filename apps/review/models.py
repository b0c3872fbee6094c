"""Review: routing rules that send traces to the labeling queue, the queue's items, and human labels."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.core.models import BaseModel
from apps.projects.models import Project

# Per-reviewer labels and the per-trace consensus, as scores (source `human`), written by label_record.
LABEL_SCORE = "human_label"  # one per reviewer: evaluator_version "reviewer:<user id>"
VERDICT_SCORE = "human_verdict"  # the consensus of a trace's labels (majority; a tie is "disputed"): the one source
DEFAULT_CATEGORIES = ["hallucination", "refusal", "wrong tool", "formatting", "incomplete", "unsafe"]


def default_categories() -> list[str]:
    return list(DEFAULT_CATEGORIES)


class ReviewQueue(BaseModel):
    """A project's queue settings: the daily cap on new items and the failure categories of its label form."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="review_queue")
    daily_cap = models.PositiveIntegerField(default=200)
    categories = ArrayField(models.CharField(max_length=50), default=default_categories, blank=True)

    def __str__(self) -> str:
        return f"review queue of {self.project}"


class RoutingRule(BaseModel):
    """When a trace goes to the review queue, with what priority and how many reviews."""

    class Kind(models.TextChoices):
        SCORE_BELOW = "score_below", "Named score below a threshold"
        CHECK_FAILED = "check_failed", "Failed programmatic check"
        JUDGE_CONFIDENCE_BELOW = "judge_confidence_below", "Judge confidence below a threshold"
        NEGATIVE_FEEDBACK = "negative_feedback", "Thumbs down or rating ≤ 2"
        RANDOM_SAMPLE = "random_sample", "Random sample (calibration)"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="routing_rules", db_index=False)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    # score_below: the score's name (required); check_failed / judge_confidence_below: blank means any.
    score_name = models.CharField(max_length=100, blank=True, default="")
    # score_below: value below it; judge_confidence_below: confidence below it.
    threshold = models.FloatField(null=True, blank=True)
    sample_percent = models.FloatField(null=True, blank=True)  # random_sample: 0–100
    priority = models.IntegerField(default=50)  # higher first
    reviews_required = models.PositiveSmallIntegerField(default=1)  # >1 measures agreement between reviewers
    is_enabled = models.BooleanField(default=True)

    class Meta:
        # Routing reads the enabled rules of one project.
        indexes = [models.Index(fields=["project", "-priority"], name="review_rule_project")]

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        """Return a one-line human description of the rule."""
        k = self.Kind
        if self.kind == k.SCORE_BELOW:
            return f"{self.score_name} < {self.threshold:g}"
        if self.kind == k.CHECK_FAILED:
            return f"check failed: {self.score_name or 'any'}"
        if self.kind == k.JUDGE_CONFIDENCE_BELOW:
            return f"judge confidence < {self.threshold:g}" + (f" ({self.score_name})" if self.score_name else "")
        if self.kind == k.NEGATIVE_FEEDBACK:
            return "thumbs down or rating ≤ 2"
        return f"random {self.sample_percent:g}% sample"


class ReviewItem(BaseModel):
    """One trace waiting for (or done with) human review; a trace enters a project's queue once.

    The trace is referenced by its project-scoped key (pk, 32-hex id, start time), not a foreign key: traces is
    time-partitioned, and its full key includes the partition column.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "Claimed"
        DONE = "done", "Done"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    trace_pk = models.BigIntegerField()
    trace_id = models.CharField(max_length=32)
    trace_started_at = models.DateTimeField()
    # [{"rule_id": 3, "kind": "check_failed", "text": "refusal failed"}, …]; a rule is listed once.
    reasons = models.JSONField(default=list)
    priority = models.IntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    reviews_required = models.PositiveSmallIntegerField(default=1)
    reviews_done = models.PositiveSmallIntegerField(default=0)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_until = models.DateTimeField(null=True, blank=True)
    skipped_by = ArrayField(models.BigIntegerField(), default=list, blank=True)  # user ids: never offered again

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "trace_pk"], name="review_uniq_item_trace"),
        ]
        indexes = [
            # "Next": the highest-priority open item of a project.
            models.Index(fields=["project", "status", "-priority", "id"], name="review_item_next"),
            # The daily cap counts a project's items created today; the API lists newest first.
            models.Index(fields=["project", "-created_at"], name="review_item_created"),
        ]

    def __str__(self) -> str:
        return f"{self.trace_id} ({self.status})"

    @property
    def reason_texts(self) -> list[str]:
        return [r.get("text", "") for r in self.reasons]


class Label(BaseModel):
    """A reviewer's verdict on a trace (from the queue, or annotated from the trace page); one per reviewer."""

    class Verdict(models.TextChoices):
        PASS = "pass", "Pass"
        FAIL = "fail", "Fail"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    item = models.ForeignKey(ReviewItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="labels")
    trace_pk = models.BigIntegerField()
    trace_id = models.CharField(max_length=32)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    verdict = models.CharField(max_length=4, choices=Verdict.choices)
    categories = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    corrected_answer = models.TextField(blank=True, default="")
    notes = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "trace_pk", "reviewer"], name="review_uniq_label_reviewer"),
        ]
        indexes = [
            # Throughput per reviewer over time (overview page).
            models.Index(fields=["project", "-created_at"], name="review_label_created"),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer_id} {self.verdict} {self.trace_id}"
