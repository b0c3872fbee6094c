"""Traces and spans: every request an LLM application served, with the context evaluation needs."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Now

from apps.core.models import BaseModel
from apps.projects.models import Project

# A trace's partition_at is its first known start; spans are matched to a stored trace, and a trace's
# started_at can move, only within this window of it: |started_at - partition_at| <= TRACE_PARTITION_WINDOW.
# Time-range reads bound partition_at by it so PostgreSQL prunes partitions. (A trace whose spans start more
# than this apart from its first-stored ones is stored as a second trace row with the same trace id.)
TRACE_PARTITION_WINDOW = timedelta(days=1)


class Status(models.TextChoices):
    UNSET = "unset", "Unset"
    OK = "ok", "OK"
    ERROR = "error", "Error"


class SpanKind(models.TextChoices):
    LLM = "llm", "LLM"
    EMBEDDING = "embedding", "Embedding"
    RETRIEVAL = "retrieval", "Retrieval"
    RERANKER = "reranker", "Reranker"
    TOOL = "tool", "Tool"
    AGENT = "agent", "Agent"
    CHAIN = "chain", "Chain"
    GUARDRAIL = "guardrail", "Guardrail"
    EVALUATOR = "evaluator", "Evaluator"
    OTHER = "other", "Other"


class Trace(BaseModel):
    """One request end to end. Its fields are derived from its spans, recomputed as spans arrive."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="traces", db_index=False)
    trace_id = models.CharField(max_length=32)
    name = models.CharField(max_length=500, blank=True, default="")
    # The slicing dimensions quality is cut by; copied into every Score.
    route = models.CharField(max_length=200, blank=True, default="")
    environment = models.CharField(max_length=100, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")  # the model the response came from
    provider = models.CharField(max_length=100, blank=True, default="")
    prompt_name = models.CharField(max_length=200, blank=True, default="")
    prompt_version = models.CharField(max_length=100, blank=True, default="")
    release = models.CharField(max_length=100, blank=True, default="")
    user_id = models.CharField(max_length=200, blank=True, default="")
    session_id = models.CharField(max_length=200, blank=True, default="")
    tags = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    input_text = models.TextField(blank=True, default="")
    output_text = models.TextField(blank=True, default="")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.UNSET)
    error = models.TextField(blank=True, default="")
    input_tokens = models.BigIntegerField(null=True, blank=True)
    output_tokens = models.BigIntegerField(null=True, blank=True)
    total_tokens = models.BigIntegerField(null=True, blank=True)
    cost = models.FloatField(null=True, blank=True)
    # Where the cost came from: "reported" by the SDK, "computed" from token counts and a price (any span), or "".
    cost_source = models.CharField(max_length=16, blank=True, default="", db_default="")
    span_count = models.IntegerField(default=0)
    root_span_id = models.CharField(max_length=16, blank=True, default="")
    has_feedback = models.BooleanField(default=False)
    # The time slice (partition) of the trace, its spans and its scores: the first known start time, set
    # when the row is first stored and never changed (started_at moves earlier as earlier spans arrive).
    # The database primary key is (project_id, id, partition_at); `id` stays unique (one sequence).
    partition_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "trace_id", "partition_at"], name="trace_uniq_project_trace_id"),
            # A trace row always has a real id: evaluations naming only a response id wait in PendingEvaluation.
            models.CheckConstraint(condition=~models.Q(trace_id=""), name="trace_id_not_empty"),
        ]
        indexes = [
            # The trace list (newest first) and the time-range filter.
            models.Index(fields=["project", "-started_at", "-id"], name="trace_project_time"),
            # Slicing filters of the list page and of rollups.
            models.Index(fields=["project", "route", "-started_at"], name="trace_project_route"),
            models.Index(fields=["project", "model", "-started_at"], name="trace_project_model"),
            models.Index(fields=["project", "prompt_version", "-started_at"], name="trace_project_prompt"),
            models.Index(fields=["project", "session_id", "-started_at"], name="trace_project_session"),
            models.Index(fields=["project", "user_id", "-started_at"], name="trace_project_user"),
            # Tag filter (`tags @> ARRAY[...]`).
            GinIndex(fields=["tags"], name="trace_tags_gin"),
            # Full-text search (`q`): trigram GIN indexes serve ILIKE '%…%' on the name, input and output.
            GinIndex(fields=["name"], opclasses=["gin_trgm_ops"], name="trace_name_trgm"),
            GinIndex(fields=["input_text"], opclasses=["gin_trgm_ops"], name="trace_input_trgm"),
            GinIndex(fields=["output_text"], opclasses=["gin_trgm_ops"], name="trace_output_trgm"),
            # Lookups by row id alone (other apps keep trace pks): one probe per partition.
            models.Index(fields=["id"], name="trace_id_lookup"),
        ]

    def __str__(self) -> str:
        return f"{self.trace_id} {self.name}"

    def save(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - Model.save's signature
        """Rows made through the ORM (tests, demo) get their partition from their start time."""
        if self.partition_at is None:
            self.partition_at = self.started_at
        super().save(*args, **kwargs)


class TraceDimensionValue(models.Model):
    """A value a slicing dimension of the project's traces has taken: the trace list's filter choices.

    Written at ingest (INSERT … ON CONFLICT DO NOTHING, which never waits on a row another request holds), so the
    choices are read from a few hundred rows instead of the trace table. Values are never removed: one whose
    traces expired stays a choice (and filters to an empty list).
    """

    class Dimension(models.TextChoices):
        ROUTE = "route", "Route"
        MODEL = "model", "Model"
        PROMPT_VERSION = "prompt_version", "Prompt version"
        ENVIRONMENT = "environment", "Environment"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    dimension = models.CharField(max_length=32, choices=Dimension.choices)
    value = models.CharField(max_length=200)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "dimension", "value"], name="trace_dim_uniq_value"),
        ]

    def __str__(self) -> str:
        return f"{self.dimension}={self.value}"


class Span(models.Model):
    """One operation inside a trace (an LLM call, a retrieval, a tool call, …), normalized."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    # No database constraint: PostgreSQL cannot reference a partitioned table by id alone. The ORM still
    # cascades deletes; retention drops a trace's spans with it (same partition_at).
    trace = models.ForeignKey(
        Trace, on_delete=models.CASCADE, related_name="spans", db_index=False, db_constraint=False
    )
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True, default="")
    is_root = models.BooleanField(default=False)
    name = models.CharField(max_length=500, blank=True, default="")
    kind = models.CharField(max_length=16, choices=SpanKind.choices, default=SpanKind.OTHER)
    operation = models.CharField(max_length=64, blank=True, default="")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    latency_ms = models.FloatField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.UNSET)
    error_type = models.CharField(max_length=200, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    model_requested = models.CharField(max_length=200, blank=True, default="")
    provider = models.CharField(max_length=100, blank=True, default="")
    prompt_name = models.CharField(max_length=200, blank=True, default="")
    prompt_version = models.CharField(max_length=100, blank=True, default="")
    route = models.CharField(max_length=200, blank=True, default="")
    environment = models.CharField(max_length=100, blank=True, default="")
    release = models.CharField(max_length=100, blank=True, default="")
    user_id = models.CharField(max_length=200, blank=True, default="")
    session_id = models.CharField(max_length=200, blank=True, default="")
    tags = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    trace_name = models.CharField(max_length=500, blank=True, default="")
    system_instructions = models.TextField(blank=True, default="")
    input_messages = models.JSONField(default=list, blank=True)
    output_messages = models.JSONField(default=list, blank=True)
    finish_reasons = models.JSONField(default=list, blank=True)
    tool_definitions = models.JSONField(default=list, blank=True)
    tool_calls = models.JSONField(default=list, blank=True)
    retrieval_query = models.TextField(blank=True, default="")
    documents = models.JSONField(default=list, blank=True)
    input_tokens = models.BigIntegerField(null=True, blank=True)
    output_tokens = models.BigIntegerField(null=True, blank=True)
    total_tokens = models.BigIntegerField(null=True, blank=True)
    cache_read_tokens = models.BigIntegerField(null=True, blank=True)
    cache_write_tokens = models.BigIntegerField(null=True, blank=True)
    reasoning_tokens = models.BigIntegerField(null=True, blank=True)
    cost_input = models.FloatField(null=True, blank=True)
    cost_output = models.FloatField(null=True, blank=True)
    cost_total = models.FloatField(null=True, blank=True)
    cost_source = models.CharField(max_length=16, blank=True, default="")
    request_params = models.JSONField(default=dict, blank=True)
    raw_input = models.TextField(blank=True, default="")
    raw_output = models.TextField(blank=True, default="")
    input_text = models.TextField(blank=True, default="")
    output_text = models.TextField(blank=True, default="")
    attributes = models.JSONField(default=dict, blank=True)
    resource = models.JSONField(default=dict, blank=True)
    scope = models.JSONField(default=dict, blank=True)
    events = models.JSONField(default=list, blank=True)
    truncated = models.JSONField(default=list, blank=True)
    # Evaluations the instrumentation attached to the span (OpenInference); scores turns them into Scores.
    evaluations = models.JSONField(default=list, blank=True)
    dropped_attributes_count = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    partition_at = models.DateTimeField()  # its trace's partition_at: a trace and its spans share a time slice

    class Meta:
        constraints = [
            # A client retry sends the same span again: stored once.
            models.UniqueConstraint(
                fields=["project", "trace", "span_id", "partition_at"], name="span_uniq_trace_span_id"
            ),
        ]
        indexes = [
            # The cost backfill's scan (apps/traces/costs.py): LLM and embedding spans by start time. No other query
            # filters spans by kind, so the other kinds (two thirds of a RAG trace's spans) are not indexed.
            models.Index(
                fields=["project", "started_at"],
                name="span_project_llm_time",
                condition=models.Q(kind__in=["llm", "embedding"]),
            ),
            # Evaluations that name only the evaluated response find their span by gen_ai.response.id.
            models.Index(
                "project",
                KeyTextTransform("gen_ai.response.id", "attributes"),
                name="span_project_response_id",
                condition=models.Q(attributes__has_key="gen_ai.response.id"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.span_id} {self.name}"

    def save(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - Model.save's signature
        """Rows made through the ORM (tests, demo) share their trace's partition, as ingest does."""
        if self.partition_at is None and self.trace_id is not None:
            self.partition_at = self.trace.partition_at
        super().save(*args, **kwargs)


class PendingSpanContent(models.Model):
    """Message content from /v1/logs whose span has not arrived yet; merged when it does."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    system_instructions = models.TextField(blank=True, default="")
    input_messages = models.JSONField(default=list, blank=True)
    output_messages = models.JSONField(default=list, blank=True)
    append = models.BooleanField(default=False)  # legacy one-message-per-event records append
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["project", "trace_id", "span_id"], name="pending_content_span")]

    def __str__(self) -> str:
        return f"content for {self.trace_id}/{self.span_id}"


class PendingEvaluation(models.Model):
    """An evaluation result from /v1/logs that names only gen_ai.response.id, waiting for the span with that id.

    Resolved rows are handed to the evaluation consumers and deleted; after the grace period a row is kept
    as rejected, with the reason, so nothing acknowledged disappears silently.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        REJECTED = "rejected", "Rejected"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    response_id = models.CharField(max_length=200)
    name = models.CharField(max_length=100, blank=True, default="")
    score = models.FloatField(null=True, blank=True)
    label = models.CharField(max_length=100, blank=True, default="")
    explanation = models.TextField(blank=True, default="")
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    reason = models.TextField(blank=True, default="")
    received_at = models.DateTimeField()
    rejected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "state", "response_id"], name="pending_eval_response"),
            # The sweeper's query: waiting rows, oldest first.
            models.Index(fields=["state", "received_at"], name="pending_eval_state_received"),
        ]

    def __str__(self) -> str:
        return f"evaluation {self.name} for response {self.response_id} ({self.state})"


class IngestBatch(models.Model):
    """One accepted ingest request: the unit of post-ingest work (evaluation), claimed once."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        DISCARDED = "discarded", "Discarded"  # a failed batch an admin gave up on (dead letters)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    trace_ids = ArrayField(models.BigIntegerField(), default=list)
    span_count = models.IntegerField(default=0)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.IntegerField(default=0)
    error = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # When its job was last sent (the ingest INSERT gets the database default); 1970 = known not sent.
    enqueued_at = models.DateTimeField(null=True, blank=True, db_default=Now())
    started_at = models.DateTimeField(null=True, blank=True)  # the claim (apps/core/jobs.py)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The sweeper's query: batches never processed, oldest first.
            models.Index(fields=["state", "created_at"], name="batch_state_created"),
        ]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.state})"


class ModelPrice(BaseModel):
    """A project's own price for the models matching a pattern, from a date on; it beats the shipped table."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_prices")
    provider = models.CharField(max_length=100, blank=True, default="")
    # fnmatch pattern over the lower-cased model name, e.g. "gpt-4o-mini*".
    model_pattern = models.CharField(max_length=200)
    input_per_million = models.FloatField()
    output_per_million = models.FloatField()
    cached_input_per_million = models.FloatField(null=True, blank=True)  # None: cached input costs the input price
    effective_from = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("project", "model_pattern", "effective_from"), name="model_price_uniq_pattern_date"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_pattern} from {self.effective_from}"
