"""Scores: every evaluation result of a trace, from any source, with the trace's slicing dimensions."""

from __future__ import annotations

from django.db import models

from apps.core.models import BaseModel
from apps.projects.models import Project
from apps.traces.models import Trace


class Score(BaseModel):
    """One evaluation of a trace (or one of its spans): programmatic, judge, human, feedback, offline or external."""

    class Source(models.TextChoices):
        PROGRAMMATIC = "programmatic", "Programmatic"
        JUDGE = "judge", "LLM judge"
        HUMAN = "human", "Human"
        FEEDBACK = "feedback", "Feedback"
        OFFLINE = "offline", "Offline"
        EXTERNAL = "external", "External"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    # No database constraint: traces are partitioned (see Span.trace).
    trace = models.ForeignKey(
        Trace, on_delete=models.CASCADE, related_name="scores", db_index=False, db_constraint=False
    )
    span_id = models.CharField(max_length=16, blank=True, default="")
    name = models.CharField(max_length=100)
    value = models.FloatField(null=True, blank=True)
    label = models.CharField(max_length=100, blank=True, default="")
    passed = models.BooleanField(null=True, blank=True)
    explanation = models.TextField(blank=True, default="")
    source = models.CharField(max_length=16, choices=Source.choices)
    evaluator_version = models.CharField(max_length=64, blank=True, default="")
    judge_model = models.CharField(max_length=200, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    # The trace's slicing dimensions, copied so metrics slice without a join.
    route = models.CharField(max_length=200, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    prompt_version = models.CharField(max_length=100, blank=True, default="")
    environment = models.CharField(max_length=100, blank=True, default="")
    trace_started_at = models.DateTimeField()
    partition_at = models.DateTimeField()  # its trace's partition_at (the same time slice)

    class Meta:
        constraints = [
            # Re-evaluation replaces a score of the same evaluator version instead of adding one.
            models.UniqueConstraint(
                fields=["project", "trace", "name", "source", "evaluator_version", "span_id", "partition_at"],
                name="score_uniq_eval",
            ),
        ]
        indexes = [
            # Metric series per name over time, and their slices.
            models.Index(fields=["project", "name", "-trace_started_at"], name="score_project_name_time"),
        ]
        # A trace's scores are found through score_uniq_eval, (project, trace, ...): no separate index.

    def __str__(self) -> str:
        return f"{self.name}={self.value} ({self.source})"
