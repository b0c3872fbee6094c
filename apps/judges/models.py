"""Judges: pinned LLM configurations that grade traces, monitored like instruments."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now

from apps.core.models import BaseModel
from apps.projects.models import Project
from apps.traces.models import Trace

DEFAULT_CALIBRATION_CRITERIA = (
    "The answer serves the user: it is correct as far as you can tell, answers the question that was asked, "
    "and would be accepted by a careful human reviewer. Fail answers a reviewer would reject."
)


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
    # What the judge grades when it is calibrated against human verdicts (apps/judges/calibration.py).
    rubric_criteria = models.TextField(default=DEFAULT_CALIBRATION_CRITERIA)
    scale = models.CharField(max_length=10, default="binary")  # apps.judges.rubrics.SCALES
    pass_threshold = models.IntegerField(null=True, blank=True)  # likert5 only
    temperature = models.FloatField(default=0.0)
    max_tokens = models.IntegerField(default=400)
    # A drop of Cohen's kappa beyond this against the current version's own baseline is a judge regression.
    regression_margin = models.FloatField(default=0.15)

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


class JudgeVersion(models.Model):
    """What produced a verdict: a frozen copy of a judge's endpoint, pinned model, rubric and parameters.

    One version per judge is current (it judges live traffic); a shadow version is only calibrated, until a person
    promotes it; a retired one stays readable with its agreement history.
    """

    class Status(models.TextChoices):
        CURRENT = "current", "Current"
        SHADOW = "shadow", "Shadow"
        RETIRED = "retired", "Retired"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="versions")
    number = models.IntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.CURRENT)
    base_url = models.URLField(max_length=300)
    model = models.CharField(max_length=200)
    rubric = models.JSONField(default=dict)  # criteria, scale, pass_threshold
    params = models.JSONField(default=dict)  # temperature, max_tokens, timeout_s
    note = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    # Judgments made by this version (calibration and live), and how many came back from another model.
    judged_count = models.IntegerField(default=0)
    mismatch_count = models.IntegerField(default=0)
    last_mismatch_model = models.CharField(max_length=200, blank=True, default="")
    # The version's own baseline: agreement on its first calibration with enough random-sample labels.
    baseline_kappa = models.FloatField(null=True, blank=True)
    baseline_accuracy = models.FloatField(null=True, blank=True)
    baseline_n = models.IntegerField(default=0)
    baseline_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["judge", "number"], name="judgeversion_uniq_number"),
            # Exactly one version judges live traffic.
            models.UniqueConstraint(
                fields=["judge"], condition=models.Q(status="current"), name="judgeversion_one_current"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.judge_id} v{self.number} ({self.status})"

    def fields(self) -> dict[str, object]:
        """Return what the version computes with, flat, for diffs and the API."""
        return {"base_url": self.base_url, "model": self.model, **self.rubric, **self.params}


class CalibrationRun(models.Model):
    """One calibration job of a judge version: the row is the job's truth (a running row blocks a second one)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    judge_version = models.ForeignKey(JudgeVersion, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=10, default="manual")  # daily, version, manual
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    total = models.IntegerField(default=0)
    scored = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["judge_version"],
                condition=models.Q(status__in=["pending", "running"]),
                name="calibrationrun_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"calibration {self.pk} of version {self.judge_version_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}


class CalibrationVerdict(models.Model):
    """A judge version's verdict on one human-labeled trace, beside the human consensus it is compared with."""

    class Sample(models.TextChoices):
        RANDOM = "random", "Random sample"
        ROUTED = "routed", "Routed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    judge_version = models.ForeignKey(JudgeVersion, on_delete=models.CASCADE, related_name="verdicts")
    trace_pk = models.BigIntegerField()  # traces is partitioned: referenced by key, not by foreign key
    trace_id = models.CharField(max_length=32)
    sample = models.CharField(max_length=6, choices=Sample.choices)
    human_passed = models.BooleanField()
    judge_passed = models.BooleanField(null=True, blank=True)  # None: the judge's answer was unusable
    judge_label = models.CharField(max_length=10, blank=True, default="")
    confidence = models.FloatField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    model_reported = models.CharField(max_length=200, blank=True, default="")
    is_model_mismatch = models.BooleanField(default=False)
    answer_chars = models.IntegerField(default=0)
    answer_model = models.CharField(max_length=200, blank=True, default="")  # the model that wrote the answer
    is_same_family = models.BooleanField(default=False)  # the answer came from the judge's own model family
    judged_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["judge_version", "trace_pk"], name="calverdict_uniq_version_trace")
        ]
        indexes = [
            # The daily figures and the regression window read one version's verdicts by time.
            models.Index(fields=["judge_version", "judged_at"], name="calverdict_version_time"),
        ]

    def __str__(self) -> str:
        return f"v{self.judge_version_id} {self.trace_id}: judge {self.judge_passed} human {self.human_passed}"


class AgreementDay(models.Model):
    """Agreement of one judge version with humans on one UTC day and sample (the verdicts it made that day)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    judge_version = models.ForeignKey(JudgeVersion, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    sample = models.CharField(max_length=6)  # CalibrationVerdict.Sample
    n = models.IntegerField()
    tp = models.IntegerField()  # judge pass, human pass
    fp = models.IntegerField()  # judge pass, human fail
    fn = models.IntegerField()  # judge fail, human pass
    tn = models.IntegerField()  # judge fail, human fail
    accuracy = models.FloatField(null=True)
    kappa = models.FloatField(null=True)
    kappa_low = models.FloatField(null=True)
    kappa_high = models.FloatField(null=True)
    tpr = models.FloatField(null=True)
    tnr = models.FloatField(null=True)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["judge_version", "day", "sample"], name="agreementday_uniq"),
        ]

    def __str__(self) -> str:
        return f"v{self.judge_version_id} {self.day} {self.sample}: κ={self.kappa}"


class ShadowVerdict(models.Model):
    """A shadow version's verdict on a live trace the current version judged: version against version, no human."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    judge_version = models.ForeignKey(JudgeVersion, on_delete=models.CASCADE, related_name="shadow_verdicts")
    current_number = models.IntegerField()  # the current version whose live verdict it is compared with
    trace_pk = models.BigIntegerField()
    current_passed = models.BooleanField()
    shadow_passed = models.BooleanField(null=True, blank=True)  # None: the shadow's answer was unusable
    error = models.TextField(blank=True, default="")
    judged_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["judge_version", "trace_pk"], name="shadowverdict_uniq_version_trace")
        ]

    def __str__(self) -> str:
        return f"v{self.judge_version_id} on {self.trace_pk}: {self.shadow_passed} vs {self.current_passed}"
