"""Scores: every evaluation result of a trace, from any source, with the trace's slicing dimensions."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
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
            # The latest failures (the overview's failures panel): a few rows per partition, read newest first,
            # instead of walking every passing score between the range's end and its latest failure.
            models.Index(
                fields=["project", "name", "-trace_started_at"],
                condition=models.Q(passed=False),
                name="score_failed_recent",
            ),
        ]
        # A trace's scores are found through score_uniq_eval, (project, trace, ...): no separate index.

    def __str__(self) -> str:
        return f"{self.name}={self.value} ({self.source})"


class Rollup(models.Model):
    """One bucket of one metric: a minute, hour or day of a project, for one slice (or all values of some dims).

    Minute rows hold every slice (`dims` = all four kept). Hour and day rows also hold each subset of the
    dimensions rolled up (`dims` says which are kept; a rolled-up one is ''), so a chart grouped by prompt
    version over 30 days reads one row per point instead of merging every slice. Always recomputed from the
    rows below it, never incremented (apps/scores/rollups.py).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    metric = models.CharField(max_length=100)
    resolution = models.IntegerField()  # bucket width in seconds: 60, 3600 or 86400
    bucket = models.DateTimeField()  # the bucket's start, UTC
    dims = models.SmallIntegerField()  # bitmask of kept dimensions: model 8, prompt_version 4, route 2, environment 1
    model = models.CharField(max_length=200, blank=True, default="")
    prompt_version = models.CharField(max_length=100, blank=True, default="")
    route = models.CharField(max_length=200, blank=True, default="")
    environment = models.CharField(max_length=100, blank=True, default="")
    count = models.BigIntegerField()  # traces (trace metrics) or scores (score metrics)
    value_count = models.BigIntegerField()  # of those, how many had a finite value
    value_sum = models.FloatField()
    passed = models.BigIntegerField()
    failed = models.BigIntegerField()
    # DDSketch buckets (apps/scores/sketch.py): sorted ordinals and their counts; empty when not kept.
    sketch_keys = ArrayField(models.IntegerField(), default=list)
    sketch_counts = ArrayField(models.BigIntegerField(), default=list)

    class Meta:
        constraints = [
            # The recompute's ON CONFLICT target, and the metric selectors' range scan (project, metric,
            # resolution, dims, then the time range; slices filtered from the rest).
            models.UniqueConstraint(
                fields=[
                    "project",
                    "metric",
                    "resolution",
                    "dims",
                    "bucket",
                    "model",
                    "prompt_version",
                    "route",
                    "environment",
                ],
                name="rollup_uniq_bucket",
            ),
        ]
        indexes = [
            # Retention pruning and rebuilds by time, across metrics.
            models.Index(fields=["resolution", "bucket"], name="rollup_resolution_bucket"),
        ]

    def __str__(self) -> str:
        return f"{self.metric}@{self.bucket:%Y-%m-%dT%H:%M} ({self.resolution}s)"


class RollupDirty(models.Model):
    """A (project, minute) whose rollups must be recomputed: appended by writers, drained by the beat job.

    Append-only with no unique key: concurrent writers marking the same minute never wait on each other.
    The drain deletes the rows it takes in the transaction that recomputes their minutes.
    """

    project_id = models.BigIntegerField()
    minute = models.DateTimeField()

    def __str__(self) -> str:
        return f"dirty {self.project_id}@{self.minute:%Y-%m-%dT%H:%M}"


class SessionSummary(models.Model):
    """One session's figures over all its stored traces, recomputed from the rows whenever it is marked dirty.

    The sessions list and a user's sessions read these rows instead of grouping every trace of the window
    (apps/scores/sessions.py keeps them: the beat drain, and retention for sessions whose traces are gone).
    """

    project_id = models.BigIntegerField()
    session_id = models.CharField(max_length=200)
    trace_count = models.IntegerField()
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()  # the latest end (start where a trace has no end) of its traces
    users = ArrayField(models.CharField(max_length=200), default=list)  # distinct non-empty user ids, sorted
    error_count = models.IntegerField()  # traces with status error
    failing_score_count = models.IntegerField()  # per trace, its distinct names of failing scores, summed
    feedback_count = models.IntegerField()  # traces with end-user feedback

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project_id", "session_id"], name="sessionsummary_uniq")]
        indexes = [
            # The sessions list: a project's sessions by last activity, newest first.
            models.Index(fields=["project_id", "-last_at", "session_id"], name="sessionsummary_recent"),
            # Retention: sessions whose traces are all past the cutoff.
            models.Index(fields=["project_id", "first_at"], name="sessionsummary_first"),
            # A user's sessions (users @> ARRAY[user]).
            GinIndex(fields=["users"], name="sessionsummary_users"),
        ]

    def __str__(self) -> str:
        return f"session {self.session_id} of project {self.project_id}"


class SessionDirty(models.Model):
    """A (project, session) whose summary must be recomputed: appended by a trigger on traces_trace and by the
    score writers, drained by the beat job (append-only, no unique key, like RollupDirty)."""

    project_id = models.BigIntegerField()
    session_id = models.CharField(max_length=200)

    def __str__(self) -> str:
        return f"dirty session {self.session_id} of project {self.project_id}"
