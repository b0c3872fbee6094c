"""Reads for traces: the filtered list (API and UI share it) and one trace with its span tree."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime

from apps.projects.models import Project
from apps.traces.models import TRACE_PARTITION_WINDOW, IngestBatch, Span, Trace

LIST_FIELDS = (
    "id",
    "trace_id",
    "name",
    "route",
    "environment",
    "model",
    "provider",
    "prompt_version",
    "user_id",
    "session_id",
    "tags",
    "input_text",
    "output_text",
    "started_at",
    "latency_ms",
    "status",
    "error",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost",
    "span_count",
    "has_feedback",
)


class FilterError(ValueError):
    """A filter value that cannot be used; names the field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


SCORE_CONDITION = re.compile(r"^\s*([A-Za-z0-9_.:-]+?)\s*(<=|>=|!=|<|>|=|:)\s*([A-Za-z0-9_.+-]+)\s*$")
SCORE_OPS = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte", "=": "exact"}


@dataclass(frozen=True)
class ScoreCondition:
    """A condition on a trace's scores: `refusal:failed`, `grounding<0.7`, `helpfulness>=4`, `tone=rude`."""

    text: str
    name: str
    lookup: dict[str, Any]
    negate: bool = False

    @classmethod
    def parse(cls, raw: str) -> ScoreCondition:
        """Parse one condition; raise FilterError naming `score` when it is not understood."""
        match = SCORE_CONDITION.match(raw)
        if not match:
            raise FilterError("score", f"use name:failed, name:passed or name<0.7 (also <=, >, >=, =); got {raw!r}")
        name, op, value = match.groups()
        if op == ":":
            if value not in {"failed", "passed"}:
                raise FilterError("score", f"after ':' use failed or passed; got {value!r}")
            return cls(text=raw.strip(), name=name, lookup={"passed": value == "passed"})
        try:
            number = float(value)
        except ValueError:
            if op not in {"=", "!="}:
                raise FilterError("score", f"{value!r} is not a number") from None
            return cls(text=raw.strip(), name=name, lookup={"label": value}, negate=op == "!=")
        if op == "!=":
            return cls(text=raw.strip(), name=name, lookup={"value": number}, negate=True)
        return cls(text=raw.strip(), name=name, lookup={f"value__{SCORE_OPS[op]}": number})


@dataclass
class TraceFilters:
    """The trace list's filters, parsed once from a query string."""

    since: datetime | None = None
    until: datetime | None = None
    route: str = ""
    model: str = ""
    prompt_version: str = ""
    environment: str = ""
    user_id: str = ""
    session_id: str = ""
    tags: list[str] = field(default_factory=list)
    status: str = ""
    has_feedback: bool | None = None
    q: str = ""
    scores: list[ScoreCondition] = field(default_factory=list)

    TEXT_FIELDS = ("route", "model", "prompt_version", "environment", "user_id", "session_id", "status", "q")

    @classmethod
    def from_query(cls, params: Any) -> TraceFilters:
        """Parse filters from a QueryDict-like mapping; raise FilterError naming a bad field."""
        filters = cls()
        for name in ("since", "until"):
            raw = (params.get(name) or "").strip()
            if raw:
                try:
                    value = parse_datetime(raw if ("T" in raw or " " in raw) else raw + "T00:00:00")
                except ValueError:
                    value = None
                if value is None:
                    raise FilterError(name, f"not an ISO 8601 time: {raw!r}")
                if value.tzinfo is None:  # times without an offset are UTC, like everything here
                    value = value.replace(tzinfo=UTC)
                setattr(filters, name, value)
        for name in cls.TEXT_FIELDS:
            setattr(filters, name, (params.get(name) or "").strip())
        if filters.status and filters.status not in {"ok", "error", "unset"}:
            raise FilterError("status", "use ok, error or unset")
        tags = params.getlist("tag") if hasattr(params, "getlist") else [params.get("tag") or ""]
        filters.tags = [t.strip() for raw in tags for t in raw.split(",") if t.strip()]
        raw_scores = params.getlist("score") if hasattr(params, "getlist") else [params.get("score") or ""]
        filters.scores = [ScoreCondition.parse(raw) for raw in raw_scores if raw and raw.strip()]
        feedback = (params.get("has_feedback") or "").strip().lower()
        if feedback:
            if feedback not in {"true", "false", "1", "0", "yes", "no"}:
                raise FilterError("has_feedback", "use true or false")
            filters.has_feedback = feedback in {"true", "1", "yes"}
        return filters

    def as_query(self) -> dict[str, str]:
        """Return the non-empty filters as query parameters (for links that keep the filters)."""
        out: dict[str, str] = {}
        for name in ("since", "until"):
            if getattr(self, name):
                out[name] = getattr(self, name).isoformat()
        for name in self.TEXT_FIELDS:
            if getattr(self, name):
                out[name] = getattr(self, name)
        if self.tags:
            out["tag"] = ",".join(self.tags)
        if self.has_feedback is not None:
            out["has_feedback"] = "true" if self.has_feedback else "false"
        if self.scores:
            out["score"] = self.scores[0].text  # the list page keeps one score condition in its form
        return out


def trace_list(*, project: Project, filters: TraceFilters) -> QuerySet[Trace]:
    """Return the project's traces matching the filters, newest first."""
    qs = Trace.objects.filter(project=project)
    # Each time bound also bounds partition_at (within TRACE_PARTITION_WINDOW of started_at): partitions prune.
    if filters.since:
        qs = qs.filter(started_at__gte=filters.since, partition_at__gte=filters.since - TRACE_PARTITION_WINDOW)
    if filters.until:
        qs = qs.filter(started_at__lt=filters.until, partition_at__lt=filters.until + TRACE_PARTITION_WINDOW)
    for name in ("route", "model", "prompt_version", "environment", "user_id", "session_id", "status"):
        value = getattr(filters, name)
        if value:
            qs = qs.filter(**{name: value})
    if filters.tags:
        qs = qs.filter(tags__contains=filters.tags)
    if filters.has_feedback is not None:
        qs = qs.filter(has_feedback=filters.has_feedback)
    if filters.q:
        qs = qs.filter(Q(trace_id=filters.q.lower()) | Q(name__icontains=filters.q))
    for condition in filters.scores:
        qs = _score_reads().traces_with_score(traces=qs, condition=condition)
    return qs.only(*LIST_FIELDS).order_by("-started_at", "-id")


def encode_cursor(trace: Trace) -> str:
    """Return an opaque cursor pointing after this trace in the newest-first order."""
    return base64.urlsafe_b64encode(f"{trace.started_at.isoformat()}|{trace.id}".encode()).decode().rstrip("=")


def trace_page(
    *, project: Project, filters: TraceFilters, cursor: str = "", limit: int = 50
) -> tuple[list[Trace], str]:
    """Return one page of the filtered list after the cursor, and the cursor of the next page ('' at the end)."""
    qs = trace_list(project=project, filters=filters)
    if cursor:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            started_raw, _, id_raw = raw.rpartition("|")
            started, last_id = parse_datetime(started_raw), int(id_raw)
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise FilterError("cursor", "not a cursor this API returned") from exc
        if started is None:
            raise FilterError("cursor", "not a cursor this API returned")
        qs = qs.filter(Q(started_at__lt=started) | Q(started_at=started, id__lt=last_id))
    rows = list(qs[: limit + 1])
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else ""
    return rows[:limit], next_cursor


def trace_get(*, project: Project, trace_id: str) -> Trace | None:
    """Return one trace of the project by its 32-hex id, or None."""
    return Trace.objects.filter(project=project, trace_id=trace_id.lower()).first()


@dataclass(eq=False)  # identity: comparing fields would recurse down the children
class SpanNode:
    """A span with its children, in start order, and its depth for indentation."""

    span: Span
    depth: int
    children: list[SpanNode] = field(default_factory=list)


def span_tree(*, trace: Trace) -> list[SpanNode]:
    """Return the trace's spans as a forest (orphans whose parent never arrived become roots).

    Iterative, so a chain thousands of spans deep never meets Python's recursion limit; spans caught in
    a parent cycle (a → b → a, unreachable from any root) become roots too rather than vanish.
    """
    # The trace's full key: one partition, the (project, trace, span, partition) index.
    spans = list(
        Span.objects.filter(project_id=trace.project_id, trace=trace, partition_at=trace.partition_at).order_by(
            "started_at", "span_id"
        )
    )
    nodes = {s.span_id: SpanNode(span=s, depth=0) for s in spans}
    roots: list[SpanNode] = []
    for node in nodes.values():
        parent = nodes.get(node.span.parent_span_id)
        if parent is not None and parent is not node:
            parent.children.append(node)
        else:
            roots.append(node)
    seen: set[int] = set()
    is_root = {id(r) for r in roots}
    for root in [*roots, *nodes.values()]:  # roots first; then whatever a cycle kept out of reach
        if id(root) in seen:
            continue
        if id(root) not in is_root:
            roots.append(root)
            nodes[root.span.parent_span_id].children.remove(root)  # break the cycle above it
        stack = [(root, 0)]
        while stack:
            node, depth = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            node.depth = depth
            stack.extend((child, depth + 1) for child in node.children)
    return roots


def span_tree_flat(*, roots: list[SpanNode]) -> list[SpanNode]:
    """Return the forest depth-first, the order a waterfall draws it in."""
    out: list[SpanNode] = []
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(node.children))
    return out


def trace_facets(*, project: Project, limit: int = 50) -> dict[str, list[str]]:
    """Return recent distinct values of the filter dimensions, for the filter pickers."""
    recent = Trace.objects.filter(project=project).order_by("-started_at")[:2000]
    facets: dict[str, list[str]] = {}
    for name in ("route", "model", "prompt_version", "environment"):
        values = {v for v in recent.values_list(name, flat=True) if v}
        facets[name] = sorted(values)[:limit]
    return facets


def traces_with_failed_scores(*, traces: list[Trace]) -> list[Trace]:
    """Attach `failed_scores` (the names of failing scores, one query for the page) to each trace."""
    if not traces:
        return traces
    failed = _score_reads().failed_score_names(trace_pks=[t.id for t in traces], project_id=traces[0].project_id)
    for trace in traces:
        trace.failed_scores = failed.get(trace.id, [])  # type: ignore[attr-defined]
    return traces


def ingest_batch_failed_list(*, project: Project) -> QuerySet[IngestBatch]:
    """Return the project's ingest batches whose post-ingest work failed for good, newest first (dead letters)."""
    return IngestBatch.objects.filter(project=project, state=IngestBatch.State.FAILED).order_by("-finished_at", "-id")


def trace_score_list(*, trace: Trace) -> QuerySet[Any]:
    """Return the trace's scores by name and source (read by the scores app)."""
    return _score_reads().trace_scores(trace=trace)


class TraceScoreReads(Protocol):
    """The reads of scores that trace lists and pages need, provided by the scores app (`apps.scores.selectors`).

    Scores sit above traces, so traces cannot import them; the scores app registers its selectors module here at
    start-up (ScoresConfig.ready), and the scores table stays read only by the app that owns it.
    """

    def traces_with_score(self, *, traces: QuerySet[Trace], condition: ScoreCondition) -> QuerySet[Trace]: ...

    def failed_score_names(
        self, *, trace_pks: Sequence[int], project_id: int | None = None
    ) -> dict[int, list[str]]: ...

    def trace_scores(self, *, trace: Trace) -> QuerySet[Any]: ...


_registered_score_reads: list[TraceScoreReads] = []


def trace_score_reads_register(reads: TraceScoreReads) -> None:
    """Install the scores app's reads (called once from ScoresConfig.ready)."""
    _registered_score_reads[:] = [reads]


def _score_reads() -> TraceScoreReads:
    if not _registered_score_reads:
        raise ImproperlyConfigured("apps.scores must be installed: it provides the score reads of trace lists")
    return _registered_score_reads[0]


class TraceEvaluationRows(NamedTuple):
    """A batch of traces as evaluators read them, as raw rows (column order as in EVALUATION_ROWS_SQL)."""

    traces: list[tuple[Any, ...]]
    span_kinds: list[tuple[int, str]]
    spans: list[tuple[Any, ...]]


# One round trip for a batch: the traces, the kinds of all their spans, then their LLM and retrieval spans in start
# order. Only the columns evaluators read; of the attribute map only the output type; JSON columns come back as text.
# Spans are found through their trace's full key (project, id, partition), which their unique index serves.
EVALUATION_ROWS_SQL = """
SELECT id, trace_id, input_text, output_text, route, model, prompt_version, environment, tags
FROM traces_trace WHERE id = ANY(%(pks)s::bigint[]);
SELECT DISTINCT s.trace_id, s.kind FROM traces_span s
JOIN traces_trace t ON s.project_id = t.project_id AND s.trace_id = t.id AND s.partition_at = t.partition_at
WHERE t.id = ANY(%(pks)s::bigint[]);
SELECT s.trace_id, s.kind, s.input_text, s.output_text, s.system_instructions, s.documents, s.retrieval_query,
       s.output_messages, s.tool_definitions, s.finish_reasons, s.request_params, s.attributes ->> 'gen_ai.output.type'
FROM traces_span s
JOIN traces_trace t ON s.project_id = t.project_id AND s.trace_id = t.id AND s.partition_at = t.partition_at
WHERE t.id = ANY(%(pks)s::bigint[]) AND s.kind IN ('llm', 'retrieval')
ORDER BY s.trace_id, s.started_at
"""


def trace_evaluation_rows(*, trace_pks: Sequence[int]) -> TraceEvaluationRows:
    """Return the rows evaluators read for a batch of traces, in one round trip (three statements, one message)."""
    if not trace_pks:
        return TraceEvaluationRows([], [], [])
    pks = "{" + ",".join(str(int(pk)) for pk in trace_pks) + "}"  # one array literal: no per-element adaptation
    connection.ensure_connection()
    # Client-side binding sends the three statements as one message; psycopg returns one result set each.
    with psycopg.ClientCursor(connection.connection) as cursor:
        cursor.execute(EVALUATION_ROWS_SQL, {"pks": pks})
        traces = cursor.fetchall()
        cursor.nextset()
        kinds = cursor.fetchall()
        cursor.nextset()
        spans = cursor.fetchall()
    return TraceEvaluationRows(traces, kinds, spans)
