"""Judges: pinned LLM configurations that grade traces, monitored like instruments."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now

from apps.core.models import BaseModel
from apps.projects.models import Project
from apps.traces.models import Trace


class Judge(BaseModel):
    """An OpenAI-compatible endpoint and an exactly pinned model; its API key comes from env or is stored encrypted."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judges", db_index=False)
    name = models.CharField(max_length=100)
    base_url = models.URLField(max_length=300)
    model = models.CharField(max_length=200, help_text="pinned exactly, e.g. gpt-4o-2024-08-06")
    api_key_env = models.CharField(max_length=100, blank=True, default="", help_text="environment variable to read")
    api_key_encrypted = models.TextField(blank=True, default="")
    timeout_s = models.FloatField(default=30)
    input_price_per_mtok = models.FloatField(null=True, blank=True)
    output_price_per_mtok = models.FloatField(null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="judge_uniq_project_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.model})"


class JudgePreview(models.Model):
    """A "Try it" run of an unsaved judge evaluator on a few recent traces: the row is the job's truth, polled."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="previews")
    # The rubric's fields (apps.judges.rubrics.Rubric) and what the judge sees of each trace (JudgeInput + trace).
    rubric = models.JSONField(default=dict)
    items = models.JSONField(default=list)
    results = models.JSONField(default=list)  # per item: label, score, passed, reason, or error
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.IntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True, db_default=Now())
    started_at = models.DateTimeField(null=True, blank=True)  # the claim (apps/core/jobs.py)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="judgepreview_status_created")]

    def __str__(self) -> str:
        return f"judge preview {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}


class JudgeRequest(models.Model):
    """One trace sampled for one judge evaluator version: the row is the job's truth, Celery carries its id."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        DISCARDED = "discarded", "Discarded"  # a failed request an admin gave up on (dead letters)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    # By string: judges sits below evaluators and never imports it; the request is what an evaluator asked of a judge.
    evaluator = models.ForeignKey(
        "evaluators.Evaluator", on_delete=models.CASCADE, related_name="judge_requests", db_index=False
    )
    evaluator_version = models.CharField(max_length=16)
    # No database constraint: traces are partitioned (PostgreSQL cannot reference them by id alone).
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.IntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # When its job was last sent or is due (a retry's countdown); 1970 = not sent, or parked for a free slot.
    enqueued_at = models.DateTimeField(null=True, blank=True, db_default=Now())
    started_at = models.DateTimeField(null=True, blank=True)  # the claim (apps/core/jobs.py)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "evaluators_judgerequest"  # moved from evaluators with its table and data
        constraints = [
            # At-least-once delivery and re-runs never judge a trace twice for one evaluator version.
            models.UniqueConstraint(fields=["evaluator", "evaluator_version", "trace"], name="judgereq_uniq"),
        ]
        indexes = [
            # The per-project concurrency count and the sweeper.
            models.Index(fields=["project", "status"], name="judgereq_project_status"),
            models.Index(fields=["status", "created_at"], name="judgereq_status_created"),
        ]

    def __str__(self) -> str:
        return f"judge {self.evaluator_id} on trace {self.trace_id} ({self.status})"
