"""SLIs, alert rules, alert state per rule and slice, its transitions, notification channels and deliveries."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now

from apps.core.models import BaseModel
from apps.projects.models import Project


class Sli(BaseModel):
    """A quality indicator: one metric from the rollups, aggregated one way, optionally filtered."""

    class Aggregation(models.TextChoices):
        PASS_RATE = "pass_rate", "Pass rate"
        FAIL_RATE = "fail_rate", "Fail rate"
        MEAN = "mean", "Mean"
        P50 = "p50", "p50"
        P95 = "p95", "p95"
        P99 = "p99", "p99"
        COUNT = "count", "Count"
        # offline − online of a metric per model/prompt version (apps/datasets/divergence.py): the offline suite
        # falling behind production.
        OFFLINE_GAP = "offline_gap", "Offline − online gap"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="slis", db_index=False)
    name = models.CharField(max_length=100)
    metric = models.CharField(max_length=100, help_text="a score name, a feedback rate, or latency_ms, errors, cost")
    aggregation = models.CharField(max_length=16, choices=Aggregation.choices)
    filters = models.JSONField(default=dict, blank=True)  # {dimension: value}: route, environment, model, …
    template = models.CharField(max_length=40, blank=True, default="")  # the built-in template it came from
    # A judged pass/fail rate may use the bias-corrected rate (apps/scores/ppi.py) once the labeled random sample of
    # its slice holds corrected_min_labels traces; below that it uses the judge's raw rate and says so.
    use_corrected = models.BooleanField(default=False)
    corrected_min_labels = models.PositiveIntegerField(default=30)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="sli_uniq_project_name")]

    def __str__(self) -> str:
        return self.name


class Channel(BaseModel):
    """Where notifications go: a signed JSON webhook, a Slack-compatible incoming webhook, or email."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        SLACK = "slack", "Slack"
        EMAIL = "email", "Email"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="channels", db_index=False)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    target = models.CharField(max_length=500, help_text="the URL (webhook, slack) or the email address")
    secret = models.CharField(max_length=100, blank=True, default="")  # signs webhook bodies
    is_enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="channel_uniq_project_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class AlertRule(BaseModel):
    """A threshold on an SLI over a rolling window, judged per slice of `group_by`."""

    class Comparator(models.TextChoices):
        GT = ">", ">"
        GTE = ">=", ">="
        LT = "<", "<"
        LTE = "<=", "<="

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alert_rules", db_index=False)
    sli = models.ForeignKey(Sli, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=100, blank=True, default="")
    comparator = models.CharField(max_length=2, choices=Comparator.choices)
    threshold = models.FloatField()
    window = models.CharField(max_length=10, default="5m")  # e.g. 5m, 1h
    min_samples = models.IntegerField(default=10)
    for_duration = models.CharField(max_length=10, default="0m")  # `for` in the API
    group_by = models.JSONField(default=list, blank=True)
    # An SLO rule: the objective (e.g. 0.97 good over slo_window) judged by multi-window burn rates instead of
    # comparator/threshold (engine.BURN_PAIRS).
    objective = models.FloatField(null=True, blank=True)
    slo_window = models.CharField(max_length=10, default="28d")
    channels = models.ManyToManyField(Channel, blank=True, related_name="rules")
    is_enabled = models.BooleanField(default=True)
    muted = models.BooleanField(default=False)  # evaluated and recorded, but notifies nobody
    # Bumped by every edit: states of an older version are reset before the next evaluation judges them.
    version = models.IntegerField(default=1)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")  # the last failed evaluation (after its retries)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "is_enabled"], name="alertrule_project_enabled")]

    def __str__(self) -> str:
        if self.name:
            return self.name
        if self.objective is not None:
            return f"{self.sli.name} SLO {self.objective * 100:g} % over {self.slo_window}"
        return f"{self.sli.name} {self.comparator} {self.threshold:g}"


class AlertState(models.Model):
    """The state of one rule on one slice; every change is a conditional UPDATE on `seq`, so it happens once."""

    class State(models.TextChoices):
        OK = "ok", "OK"
        PENDING = "pending", "Pending"
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"
        NO_DATA = "no_data", "No data"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="states")
    slice_key = models.CharField(max_length=600)  # canonical "dim=value,…" ("" without group_by)
    slice = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OK)
    seq = models.IntegerField(default=0)  # transitions so far: the guard of every conditional UPDATE
    rule_version = models.IntegerField(default=1)
    since = models.DateTimeField(db_default=Now())  # when the current state began
    started_at = models.DateTimeField(null=True, blank=True)  # when the condition started to hold
    value = models.FloatField(null=True, blank=True)
    samples = models.IntegerField(default=0)
    baseline = models.JSONField(default=dict, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True, default="")
    silenced_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "slice_key"], name="alertstate_uniq_rule_slice")]
        indexes = [models.Index(fields=["project", "state"], name="alertstate_project_state")]

    def __str__(self) -> str:
        return f"rule {self.rule_id} [{self.slice_key}] {self.state}"


class AlertFlip(models.Model):
    """One recorded transition of an alert state, with the values that caused it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="flips")
    alert = models.ForeignKey(AlertState, on_delete=models.CASCADE, related_name="flips")
    seq = models.IntegerField()
    from_state = models.CharField(max_length=10)
    to_state = models.CharField(max_length=10)
    reason = models.CharField(max_length=200, blank=True, default="")  # e.g. "rule edited: state reset"
    value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    samples = models.IntegerField(default=0)
    baseline = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True, default="")
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["alert", "seq"], name="alertflip_uniq_alert_seq")]
        indexes = [models.Index(fields=["project", "-at"], name="alertflip_project_at")]

    def __str__(self) -> str:
        return f"{self.from_state} → {self.to_state} at {self.at:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    """One transition sent to one channel: the row is the delivery job's truth (apps/core/jobs.py)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Delivered"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    flip = models.ForeignKey(AlertFlip, on_delete=models.CASCADE, related_name="notifications", null=True, blank=True)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="notifications")
    payload = models.JSONField(default=dict)
    is_test = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.IntegerField(default=0)
    error = models.TextField(blank=True, default="")
    response_status = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True, db_default=Now())
    started_at = models.DateTimeField(null=True, blank=True)  # the claim
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One notification per transition and channel: a retry or a double beat never adds another.
            models.UniqueConstraint(fields=["flip", "channel"], name="notification_uniq_flip_channel")
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="notification_status_created")]

    def __str__(self) -> str:
        return f"notification {self.pk} ({self.status})"
