"""Evaluators (what to score, on which traces, how often), judge requests and backfills."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now

from apps.core.models import BaseModel
from apps.judges.models import Judge
from apps.projects.models import Project


class Evaluator(BaseModel):
    """A metric definition: a programmatic check or an LLM judge, its filters and sampling rate."""

    class Kind(models.TextChoices):
        NOT_EMPTY = "not_empty", "Not empty"
        REFUSAL = "refusal", "Refusal"
        JSON_VALID = "json_valid", "Valid JSON"
        JSON_SCHEMA = "json_schema", "JSON Schema"
        REGEX = "regex", "Regex"
        FORMAT = "format", "Format / length"
        CITATIONS = "citations", "Citations"
        GROUNDING = "grounding", "Grounding"
        TOOL_CALL_VALID = "tool_call_valid", "Tool call arguments"
        LLM_JUDGE = "llm_judge", "LLM judge"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="evaluators", db_index=False)
    name = models.SlugField(max_length=100, help_text="the metric the scores carry")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    config = models.JSONField(default=dict, blank=True)
    # Changes whenever what the evaluator computes changes; scores are unique per version.
    version = models.CharField(max_length=16)
    filters = models.JSONField(default=dict, blank=True)
    sample_rate = models.FloatField(default=1.0)
    is_enabled = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)
    judge = models.ForeignKey(Judge, null=True, blank=True, on_delete=models.PROTECT, related_name="evaluators")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="eval_uniq_project_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind} {self.version})"

    @property
    def is_judge(self) -> bool:
        return self.kind == self.Kind.LLM_JUDGE


class EvaluatorVersion(BaseModel):
    """One version an evaluator took on, and why: its history, drawn as steps on the charts of its metric."""

    class Reason(models.TextChoices):
        CREATED = "created", "Created"
        CONFIG = "config", "Config changed"
        LOGIC = "logic", "Check logic changed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    evaluator = models.ForeignKey(Evaluator, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=16)
    previous_version = models.CharField(max_length=16, blank=True, default="")
    reason = models.CharField(max_length=8, choices=Reason.choices)
    logic_version = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        # Read by the charts (the steps of a project's metrics in a time range) and the evaluators page.
        indexes = [models.Index(fields=["project", "created_at"], name="eval_version_project_created")]

    def __str__(self) -> str:
        return f"{self.evaluator_id} {self.previous_version or '-'} → {self.version} ({self.reason})"


class Backfill(BaseModel):
    """Running one evaluator over past traces of a time range, in chunks; progress lives in the row."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    evaluator = models.ForeignKey(Evaluator, on_delete=models.CASCADE, related_name="backfills")
    evaluator_version = models.CharField(max_length=16)
    since = models.DateTimeField()
    until = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    total = models.IntegerField(default=0)
    processed = models.IntegerField(default=0)
    scored = models.IntegerField(default=0)
    # Keyset cursor: traces are walked by id so a re-run resumes where the last chunk ended.
    last_trace_pk = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    # Each chunk task claims the row (running with claimed_at set) and releases it before queueing the next.
    attempts = models.IntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True, db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "-created_at"], name="backfill_project_created")]

    def __str__(self) -> str:
        return f"backfill {self.pk} of {self.evaluator_id} ({self.status} {self.processed}/{self.total})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.processed / self.total)
