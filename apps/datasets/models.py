"""Datasets built from labeled production traces (versioned, with snapshots), and offline runs scored against them."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now

from apps.core.models import BaseModel
from apps.projects.models import Project


class Dataset(BaseModel):
    """A named set of examples for the team's offline suite; every change to its items makes a new version."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="datasets", db_index=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    version = models.PositiveIntegerField(default=0)  # 0 while empty; an export names the version it holds
    # The filters it was first built with (verdict, category, reason, route, model, prompt_version, since, until).
    built_from = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="dataset_uniq_project_name")]
        indexes = [models.Index(fields=["project", "-created_at"], name="dataset_project_created")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class DatasetItem(BaseModel):
    """One example: a snapshot of a trace and its human label (or given by hand), and where it came from.

    Items are never edited: version N of a dataset is every item added in version N or before, so an export of
    an old version reads the same tomorrow.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="items")
    added_in_version = models.PositiveIntegerField()
    # The snapshot.
    input = models.TextField(blank=True, default="")
    output = models.TextField(blank=True, default="")  # the production answer
    context = models.JSONField(default=list, blank=True)  # retrieved documents: [{"id", "content"}]
    expected = models.TextField(blank=True, default="")  # the reviewer's corrected answer
    verdict = models.CharField(max_length=16, blank=True, default="")  # pass, fail, disputed, or '' (unlabeled)
    categories = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    # Provenance (a trace may since have been pruned; the snapshot stays).
    trace_id = models.CharField(max_length=32, blank=True, default="")
    trace_started_at = models.DateTimeField(null=True, blank=True)
    label_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    reviewers = ArrayField(models.CharField(max_length=150), default=list, blank=True)
    route = models.CharField(max_length=200, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    prompt_version = models.CharField(max_length=100, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            # A trace is in a dataset once: adding it again is a no-op.
            models.UniqueConstraint(
                fields=["dataset", "trace_id"], condition=~models.Q(trace_id=""), name="dataset_uniq_item_trace"
            ),
        ]
        indexes = [models.Index(fields=["dataset", "added_in_version", "id"], name="dataset_item_version")]

    def __str__(self) -> str:
        return f"item {self.pk} of {self.dataset_id} (v{self.added_in_version})"


class OfflineRun(BaseModel):
    """One run of the team's offline suite for a model and prompt version: items Sightline scores, or metrics."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Mode(models.TextChoices):
        ITEMS = "items", "Items scored by Sightline"
        METRICS = "metrics", "Metrics computed elsewhere"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    name = models.CharField(max_length=200)
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    dataset_version = models.PositiveIntegerField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True, default="")
    prompt_version = models.CharField(max_length=100)
    git_revision = models.CharField(max_length=100, blank=True, default="")
    mode = models.CharField(max_length=8, choices=Mode.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    items_total = models.IntegerField(default=0)
    # The evaluators that scored the items, as they were: [{"name", "kind", "version", "judge_model"}].
    evaluators = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")
    attempts = models.IntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)  # the claim of the worker scoring it
    enqueued_at = models.DateTimeField(null=True, blank=True, db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "-created_at"], name="offrun_project_created"),
            models.Index(fields=["project", "prompt_version", "-created_at"], name="offrun_project_version"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prompt_version}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}


class OfflineRunItem(models.Model):
    """One example of an items run and what each evaluator made of it."""

    run = models.ForeignKey(OfflineRun, on_delete=models.CASCADE, related_name="items")
    index = models.IntegerField()
    input = models.TextField(blank=True, default="")
    output = models.TextField(blank=True, default="")
    context = models.JSONField(default=list, blank=True)  # [{"id", "content"}]
    expected = models.TextField(blank=True, default="")
    # {metric: {"value", "passed", "label", "explanation", "evaluator_version", "judge_model"}}.
    results = models.JSONField(default=dict, blank=True)
    is_scored = models.BooleanField(default=False)  # every evaluator that applies has scored it

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="offrun_uniq_item_index")]

    def __str__(self) -> str:
        return f"item {self.index} of run {self.run_id}"


class OfflineMetric(BaseModel):
    """One metric of one offline run: computed by Sightline from the items, or sent precomputed."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    run = models.ForeignKey(OfflineRun, on_delete=models.CASCADE, related_name="metrics")
    name = models.CharField(max_length=100)
    value = models.FloatField()  # the headline: a pass rate (0–1) for pass/fail metrics, else the mean
    count = models.IntegerField(null=True, blank=True)  # items behind it, when known
    evaluator_version = models.CharField(max_length=64, blank=True, default="")
    judge_model = models.CharField(max_length=200, blank=True, default="")
    # The run's version, copied so the divergence reads one table.
    model = models.CharField(max_length=200, blank=True, default="")
    prompt_version = models.CharField(max_length=100)
    measured_at = models.DateTimeField()  # when the run finished

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="offmetric_uniq_run_name")]
        indexes = [
            models.Index(fields=["project", "prompt_version", "name", "-measured_at"], name="offmetric_version_time"),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value:g} ({self.prompt_version})"

    @property
    def display(self) -> str:
        """The value for people: a 0–1 value as a percentage (pass rates), else as is."""
        return f"{self.value * 100:.1f} %" if 0.0 <= self.value <= 1.0 else f"{self.value:.4g}"
