"""Feedback: end users' signal on a trace, sent by the app (explicit) or inferred from sessions (inferred)."""

from __future__ import annotations

from django.db import models

from apps.core.models import BaseModel
from apps.projects.models import Project


class Feedback(BaseModel):
    """One signal about one trace's answer.

    The trace is named by (project, trace_id) — feedback may arrive before its trace — and `trace_pk` is filled
    once the trace row exists. No foreign key: traces are a time-partitioned table.
    """

    class Kind(models.TextChoices):
        THUMBS_UP = "thumbs_up", "Thumbs up"
        THUMBS_DOWN = "thumbs_down", "Thumbs down"
        RATING = "rating", "Rating"
        REGENERATE = "regenerate", "Regenerate"
        EDIT = "edit", "Edit"
        ABANDON = "abandon", "Abandon"
        REPHRASE = "rephrase", "Rephrase"
        COMMENT = "comment", "Comment"
        SCORE = "score", "Score"  # an external score (Langfuse's create_score) that came before its trace

    class Source(models.TextChoices):
        EXPLICIT = "explicit", "Explicit"  # sent by the app (POST /api/v1/feedback)
        INFERRED = "inferred", "Inferred"  # found by a detector in apps.feedback.inference

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    trace_id = models.CharField(max_length=32)  # the trace's external 32-hex id
    trace_pk = models.BigIntegerField(null=True, blank=True)  # traces_trace.id once the trace is known
    kind = models.CharField(max_length=16, choices=Kind.choices)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.EXPLICIT)
    value = models.FloatField(null=True, blank=True)  # a rating's 1–5
    text = models.TextField(blank=True, default="")  # an edit's edited text
    comment = models.TextField(blank=True, default="")
    user_id = models.CharField(max_length=200, blank=True, default="")
    reason = models.CharField(max_length=500, blank=True, default="")  # why a detector inferred it
    occurred_at = models.DateTimeField()  # the item's timestamp, else when it was received
    # kind `score`: the validated external score (name, value, label, passed, explanation, span_id, version, source),
    # written as a score of its own source when the trace is linked.
    score = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            # A detector re-run never adds a row: one inferred signal of a kind per trace.
            models.UniqueConstraint(
                fields=["project", "trace_id", "kind"],
                condition=models.Q(source="inferred"),
                name="feedback_uniq_inferred",
            ),
        ]
        indexes = [
            # A trace's feedback (API and page), and linking rows to a trace that just arrived.
            models.Index(fields=["project", "trace_id"], name="feedback_project_trace"),
            # Rows still waiting for their trace: the link sweep and the unlinked page.
            models.Index(
                fields=["project", "created_at"],
                condition=models.Q(trace_pk__isnull=True),
                name="feedback_unlinked",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.source}) on {self.trace_id}"
