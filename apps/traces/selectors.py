"""Reads for traces: the filtered list (API and UI share it) and one trace with its span tree."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import F, Lookup, Max, Min, Q, QuerySet
from django.db.models.functions import Coalesce, Left, Length
from django.utils.dateparse import parse_datetime

from apps.projects.models import Project
from apps.traces.models import TRACE_PARTITION_WINDOW, IngestBatch, Span, Trace, TraceDimensionValue
from apps.traces.normalize.messages import parts_text

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
    "cost_source",
    "span_count",
    "has_feedback",
)
# A row of the API's trace list carries this many characters of the input and output (the whole text on request).
LIST_PREVIEW_CHARS = 200


class FilterError(ValueError):
    """A filter value that cannot be used; names the field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


# `q` searches trace ids, names, inputs and outputs. Trigrams need 3 characters for the index to narrow anything, so
# a shorter `q` keeps its meaning from before full-text search (exact id, or in the name); the upper bound keeps a
# pasted document from becoming a very long pattern.
SEARCH_MIN_CHARS = 3
SEARCH_MAX_CHARS = 200

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
        if len(filters.q) > SEARCH_MAX_CHARS:
            raise FilterError("q", f"search text must be at most {SEARCH_MAX_CHARS} characters long")
        if filters.status and filters.status not in {"ok", "error", "unset"}:
            raise FilterError("status", "use ok, error or unset")
        tags = params.getlist("tag") if hasattr(params, "getlist") else [params.get("tag") or ""]
        filters.tags = [t.strip() for raw in tags for t in raw.split(",") if t.strip()]
        raw_scores = params.getlist("score") if hasattr(params, "getlist") else [params.get("score") or ""]
        filters.scores = [ScoreCondition.parse(raw) for raw in raw_scores if raw and raw.strip()]
        if filters.since and filters.until and filters.since >= filters.until:
            raise FilterError("until", "must be after since (the range would be empty)")
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
        qs = qs.filter(trace_search_q(filters.q))
    if filters.scores:
        # An unknown metric matches nothing: say so rather than answer an empty list that looks like "all good".
        names = [condition.name for condition in filters.scores]
        unknown = sorted(set(names) - _score_reads().score_names_known(project=project, names=names))
        if unknown:
            raise FilterError("score", f"no score named {unknown[0]!r} in this project")
    for condition in filters.scores:
        qs = _score_reads().traces_with_score(traces=qs, condition=condition)
    return qs.only(*LIST_FIELDS).order_by("-started_at", "-id")


class ILike(Lookup):
    """`column ILIKE pattern` on the bare column, which a gin_trgm_ops index serves.

    Django's `icontains` compiles to `UPPER(column) LIKE UPPER(...)`, which no index on the column can answer.
    """

    lookup_name = "ilike"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]


def like_contains_pattern(text: str) -> str:
    """Return a LIKE pattern matching the text anywhere, its wildcards (and the escape character) taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def trace_search_q(text: str) -> Q:
    """Match a trace by exact id, or the text anywhere in its name, input or output (trigram GIN indexes).

    Below SEARCH_MIN_CHARS the text matches ids and names only, as `q` did before full-text search.
    """
    pattern = like_contains_pattern(text)
    if len(text) < SEARCH_MIN_CHARS:
        return Q(trace_id=text.lower()) | Q(ILike(F("name"), pattern))
    return (
        Q(trace_id=text.lower())
        | Q(ILike(F("name"), pattern))
        | Q(ILike(F("input_text"), pattern))
        | Q(ILike(F("output_text"), pattern))
    )


def encode_cursor(trace: Trace | dict[str, Any]) -> str:
    """Return an opaque cursor pointing after this trace (a row or its `.values()` dict) in the newest-first order."""
    started_at, pk = (trace["started_at"], trace["id"]) if isinstance(trace, dict) else (trace.started_at, trace.id)
    return base64.urlsafe_b64encode(f"{started_at.isoformat()}|{pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Return the (started_at, id) an encode_cursor() cursor points after; FilterError naming `cursor` if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        started_raw, _, id_raw = raw.rpartition("|")
        started, last_id = parse_datetime(started_raw), int(id_raw)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise FilterError("cursor", "not a cursor this API returned") from exc
    if started is None:
        raise FilterError("cursor", "not a cursor this API returned")
    return started, last_id


# What a list row reads when it is a dict (`trace_page(..., as_dicts=True)`): the API's and the page's columns.
LIST_ROW_FIELDS = (
    "id",
    "project_id",
    *(name for name in LIST_FIELDS[1:] if name not in {"input_text", "output_text"}),  # previews stand for these
)


def trace_page(
    *,
    project: Project,
    filters: TraceFilters,
    cursor: str = "",
    limit: int = 50,
    preview_chars: int = 0,
    content: bool = False,
    as_dicts: bool = False,
) -> tuple[list[Any], str]:
    """Return one page of the filtered list after the cursor, and the cursor of the next page ('' at the end).

    With `preview_chars`, the rows carry `input_preview`/`output_preview` (that many first characters) and
    `input_length`/`output_length`; the whole texts are then read only with `content`. With `as_dicts` the rows
    are dicts of LIST_ROW_FIELDS (and those, plus `input_text`/`output_text` with `content`): no model instances.
    """
    if as_dicts and not filters.scores:  # score conditions are the scores app's querysets: the ORM path below
        listed = ListRowsSQL.build(
            project_id=project.pk, filters=filters, cursor=cursor, preview_chars=preview_chars, content=content
        )
        rows = _newest_first(listed, newest=listed.cursor_at, since=filters.since, count=limit + 1)
        next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else ""
        return rows[:limit], next_cursor
    qs = trace_list(project=project, filters=filters)
    if preview_chars:
        if not content:
            qs = qs.defer("input_text", "output_text")
        qs = qs.annotate(
            input_preview=Left("input_text", preview_chars),
            input_length=Length("input_text"),
            output_preview=Left("output_text", preview_chars),
            output_length=Length("output_text"),
        )
    if cursor:
        started, last_id = decode_cursor(cursor)
        qs = qs.filter(Q(started_at__lt=started) | Q(started_at=started, id__lt=last_id))
        qs = qs.filter(partition_at__lte=started + TRACE_PARTITION_WINDOW)
    if as_dicts:
        extra = ("input_text", "output_text") if content or not preview_chars else ()
        previews = ("input_preview", "input_length", "output_preview", "output_length") if preview_chars else ()
        qs = qs.values(*LIST_ROW_FIELDS, *extra, *previews)  # type: ignore[assignment]
    rows = _newest_first(qs, newest=started if cursor else None, since=filters.since, count=limit + 1)
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else ""
    return rows[:limit], next_cursor


_TRACE_TABLE = Trace._meta.db_table
_EQUAL_FILTERS = ("route", "model", "prompt_version", "environment", "user_id", "session_id", "status")
_TAGS_TYPE = "varchar(%d)[]" % Trace._meta.get_field("tags").base_field.max_length  # noqa: UP031 - a SQL type
_BOUND_OPS = {"gte": ">=", "gt": ">", "lt": "<", "lte": "<=", "exact": "="}


def _col(name: str) -> str:
    """A column of the trace table, qualified as the ORM writes it."""
    return f'"{_TRACE_TABLE}"."{name}"'


class ListRowsSQL:
    """The dict rows of trace_page as one SQL text built from the filters, not an ORM query compiled per request.

    It answers what `trace_list(...).values(...)` (with the previews) answers, row for row (tests/traces/
    test_list_fast_rows.py): the ORM's query building and compiling was a third of the list API's Python. It
    stands in for that queryset in _newest_first, so it takes the same `.filter(started_at__gte=..., ...)` bounds
    on started_at and partition_at, and a `[:count]` slice runs it.
    """

    def __init__(self, select: str, where: list[str], params: list[Any], names: list[str], cursor_at: Any) -> None:
        self.select, self.where, self.params, self.names, self.cursor_at = select, where, params, names, cursor_at

    @classmethod
    def build(
        cls, *, project_id: int, filters: TraceFilters, cursor: str, preview_chars: int, content: bool
    ) -> ListRowsSQL:
        names = list(LIST_ROW_FIELDS)
        columns = [_col(name) for name in LIST_ROW_FIELDS]
        if content or not preview_chars:
            names += ["input_text", "output_text"]
            columns += [_col("input_text"), _col("output_text")]
        if preview_chars:
            n = int(preview_chars)
            names += ["input_preview", "input_length", "output_preview", "output_length"]
            columns += [
                f"LEFT({_col('input_text')}, {n})",
                f"LENGTH({_col('input_text')})",
                f"LEFT({_col('output_text')}, {n})",
                f"LENGTH({_col('output_text')})",
            ]
        where, params = [f"{_col('project_id')} = %s"], [project_id]
        # Each time bound also bounds partition_at (within TRACE_PARTITION_WINDOW of started_at): partitions prune.
        if filters.since:
            where += [f"{_col('started_at')} >= %s", f"{_col('partition_at')} >= %s"]
            params += [filters.since, filters.since - TRACE_PARTITION_WINDOW]
        if filters.until:
            where += [f"{_col('started_at')} < %s", f"{_col('partition_at')} < %s"]
            params += [filters.until, filters.until + TRACE_PARTITION_WINDOW]
        for name in _EQUAL_FILTERS:
            value = getattr(filters, name)
            if value:
                where.append(f"{_col(name)} = %s")
                params.append(value)
        if filters.tags:
            where.append(f"{_col('tags')} @> %s::{_TAGS_TYPE}")
            params.append(list(filters.tags))
        if filters.has_feedback is not None:
            where.append(f"{_col('has_feedback')} = %s")
            params.append(filters.has_feedback)
        if filters.q:  # trace_search_q, as SQL
            pattern = like_contains_pattern(filters.q)
            texts = ("name",) if len(filters.q) < SEARCH_MIN_CHARS else ("name", "input_text", "output_text")
            where.append("(" + " OR ".join([f"{_col('trace_id')} = %s"] + [f"{_col(c)} ILIKE %s" for c in texts]) + ")")
            params += [filters.q.lower(), *[pattern] * len(texts)]
        cursor_at = None
        if cursor:
            cursor_at, last_id = decode_cursor(cursor)
            started_at, pk = _col("started_at"), _col("id")
            where += [f"({started_at} < %s OR ({started_at} = %s AND {pk} < %s))", f"{_col('partition_at')} <= %s"]
            params += [cursor_at, cursor_at, last_id, cursor_at + TRACE_PARTITION_WINDOW]
        select = f'SELECT {", ".join(columns)} FROM "{_TRACE_TABLE}"'
        return cls(select, where, params, names, cursor_at)

    def filter(self, **bounds: Any) -> ListRowsSQL:
        """Add `started_at__gte=...`-style bounds (started_at and partition_at; gte, gt, lt, lte, exact)."""
        where, params = list(self.where), list(self.params)
        for key, value in bounds.items():
            name, _, op = key.partition("__")
            if name not in {"started_at", "partition_at"} or (op or "exact") not in _BOUND_OPS:
                raise TypeError(f"ListRowsSQL.filter does not take {key}")
            where.append(f"{_col(name)} {_BOUND_OPS[op or 'exact']} %s")
            params.append(value)
        return ListRowsSQL(self.select, where, params, self.names, self.cursor_at)

    def __getitem__(self, bounds: slice) -> list[dict[str, Any]]:
        if not isinstance(bounds, slice) or bounds.start or bounds.step or bounds.stop is None:
            raise TypeError("ListRowsSQL takes [:count] only")
        return self._rows(int(bounds.stop))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._rows(None))

    def _rows(self, limit: int | None) -> list[dict[str, Any]]:
        order = f"{_col('started_at')} DESC, {_col('id')} DESC"
        sql = f"{self.select} WHERE {' AND '.join(self.where)} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {limit}"
        names = self.names
        with connection.cursor() as cursor:
            cursor.execute(sql, self.params)
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# A page is looked for in the newest day first, then the rest of the newest week, month, and only then in what is
# older: each try bounds partition_at on both sides, so PostgreSQL plans and opens the few partitions of its slice
# instead of every one (planning over 40 daily partitions took ~12 ms of a 13 ms list query at 1M traces; a day's
# window, 2 ms). The slices are disjoint, so a rare or no-match search reads each partition once, not up to 4 times.
PAGE_WINDOWS = (timedelta(days=1), timedelta(days=7), timedelta(days=31))


def page_slices(*, top: datetime, since: datetime | None) -> list[tuple[datetime | None, datetime | None]]:
    """The disjoint started_at slices [lower, upper) a newest-first page is read from, newest first.

    None is an open end. The slices tile everything before `top` (and any row from `top` on, in the first):
    the day before top, the rest of the week, the rest of the month, the rest. A filter's own `since` ends the
    tiling: the slice reaching past it is open below (the filter bounds it).
    """
    slices: list[tuple[datetime | None, datetime | None]] = []
    upper: datetime | None = None
    for window in PAGE_WINDOWS:
        lower = top - window
        if since is not None and lower <= since:
            break
        slices.append((lower, upper))
        upper = lower
    slices.append((None, upper))
    return slices


def _slice(qs: QuerySet[Any], lower: datetime | None, upper: datetime | None) -> QuerySet[Any]:
    """Rows of qs with started_at in [lower, upper), partition_at bounded to match (see TRACE_PARTITION_WINDOW)."""
    if lower is not None:
        qs = qs.filter(started_at__gte=lower, partition_at__gte=lower - TRACE_PARTITION_WINDOW)
    if upper is not None:
        qs = qs.filter(started_at__lt=upper, partition_at__lt=upper + TRACE_PARTITION_WINDOW)
    return qs


def _newest_first(qs: QuerySet[Any], *, newest: datetime | None, since: datetime | None, count: int) -> list[Any]:
    """Return the first `count` rows of the newest-first queryset, reading disjoint slices, newest first, until
    `count` rows are found (page_slices)."""
    rows: list[Any] = []
    for lower, upper in page_slices(top=newest or datetime.now(UTC), since=since):
        rows += list(_slice(qs, lower, upper)[: count - len(rows)])
        if len(rows) == count:
            break
    return rows


def trace_get(*, project: Project, trace_id: str) -> Trace | None:
    """Return one trace of the project by its 32-hex id, or None."""
    return Trace.objects.filter(project=project, trace_id=trace_id.lower()).first()


def trace_metadata(*, trace: Trace, spans: Sequence[Span]) -> dict[str, Any]:
    """Return the trace's metadata: its root span's resource and attributes (the stored value when it has no root).

    The root is the one the trace recompute picks (services._AGG_CTES: earliest start, then span id). Keys in
    jsonb's order (shorter first), as the stored column returned them.
    """
    roots = [s for s in spans if s.is_root]
    if not roots:
        return trace.metadata
    root = min(roots, key=lambda s: (s.started_at, s.span_id))
    return {"resource": root.resource, "attributes": root.attributes}


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


def trace_facets(*, project: Project, limit: int = 200) -> dict[str, list[str]]:
    """Return the values each filter dimension has taken in the project, for the filter pickers.

    Read from the small table ingest keeps (TraceDimensionValue), not from the traces: the same cost at a
    million traces as at ten.
    """
    facets: dict[str, list[str]] = {name: [] for name in TraceDimensionValue.Dimension.values}
    rows = (
        TraceDimensionValue.objects.filter(project=project)
        .order_by("dimension", "value")
        .values_list("dimension", "value")
    )
    for dimension, value in rows:
        if len(facets[dimension]) < limit:
            facets[dimension].append(value)
    return facets


def traces_with_failed_scores(*, traces: list[Any]) -> list[Any]:
    """Attach `failed_scores` (the names of failing scores, one query for the page) to each trace (row or dict)."""
    if not traces:
        return traces
    if isinstance(traces[0], dict):
        failed = _score_reads().failed_score_names(
            trace_pks=[t["id"] for t in traces], project_id=traces[0]["project_id"]
        )
        for row in traces:
            row["failed_scores"] = failed.get(row["id"], [])
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


def trace_score_filter_options(*, project: Project) -> list[tuple[str, str]]:
    """Return the score filter's suggestions, (condition, what the score's values mean), from the declarations."""
    return _score_reads().score_filter_options(project=project)


def trace_score_filter_meanings(*, project: Project, filters: TraceFilters) -> list[tuple[str, str]]:
    """Return (score name, what its values mean) for each score the filters name, so a condition reads right."""
    names = list(dict.fromkeys(condition.name for condition in filters.scores))
    meanings = _score_reads().score_meanings(project=project, names=names) if names else {}
    return [(name, meanings[name]) for name in names if name in meanings]


def trace_score_list_described(*, project: Project, trace: Trace) -> list[Any]:
    """Return the trace's scores, each with what its declaration says (`spec`, `value_text`, `version_label`)."""
    reads = _score_reads()
    return reads.scores_describe(project=project, scores=list(reads.trace_scores(trace=trace)))


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

    def score_names_known(self, *, project: Project, names: Sequence[str]) -> set[str]: ...

    def trace_scores_map(self, *, project_id: int, trace_pks: Sequence[int]) -> dict[int, list[Any]]: ...

    def scores_describe(self, *, project: Project, scores: Sequence[Any]) -> list[Any]: ...

    def metric_specs_for(self, *, project: Project, names: Iterable[str]) -> dict[str, Any]: ...

    def score_filter_options(self, *, project: Project) -> list[tuple[str, str]]: ...

    def score_meanings(self, *, project: Project, names: Iterable[str]) -> dict[str, str]: ...

    def session_summary_page(
        self, *, project_id: int, since: datetime, user_id: str = "", offset: int = 0, limit: int = 50
    ) -> list[dict[str, Any]]: ...


_registered_score_reads: list[TraceScoreReads] = []


def trace_score_reads_register(reads: TraceScoreReads) -> None:
    """Install the scores app's reads (called once from ScoresConfig.ready)."""
    _registered_score_reads[:] = [reads]


def score_reads() -> TraceScoreReads:
    """Return the scores app's reads (for the traces app's other read modules)."""
    return _score_reads()


def _score_reads() -> TraceScoreReads:
    if not _registered_score_reads:
        raise ImproperlyConfigured("apps.scores must be installed: it provides the score reads of trace lists")
    return _registered_score_reads[0]


class TracePagePanel(NamedTuple):
    """A section a higher app adds to the trace page: the template to include and its context."""

    template: str
    context: dict[str, Any]


# Higher apps (feedback, review) add sections to the trace page without traces importing them: each registers
# a callable (trace=) -> TracePagePanel from its AppConfig.ready.
_trace_page_panels: list[Callable[..., TracePagePanel]] = []


def trace_page_panel_register(panel: Callable[..., TracePagePanel]) -> None:
    """Add a section to the trace page (idempotent; called from a higher app's AppConfig.ready)."""
    if panel not in _trace_page_panels:
        _trace_page_panels.append(panel)


def trace_page_panels(*, trace: Trace) -> list[TracePagePanel]:
    """Return the registered sections of this trace's page, in registration order."""
    return [panel(trace=trace) for panel in _trace_page_panels]


class TraceEvaluationRows(NamedTuple):
    """A batch of traces as evaluators read them, as raw rows (column order as in EVALUATION_ROWS_SQL)."""

    traces: list[tuple[Any, ...]]
    span_kinds: list[tuple[int, str]]
    spans: list[tuple[Any, ...]]


# One round trip for a batch: the traces, the kinds of all their spans, then their LLM and retrieval spans in start
# order. Only the columns evaluators read; of the attribute map only the output type; JSON columns come back as text.
# Spans are found through their trace's full key (project, id, partition), which their unique index serves.
# Each trace's spans are read through its full key (project, trace row id, partition_at) by the span table's unique
# index, one nested-loop probe per trace: OFFSET 0 keeps the planner from flattening the LATERAL into a hash join,
# which on a young table (no statistics yet) scanned every LLM/retrieval span of the day's partition per batch
# (~16x slower at 4,000 spans, and growing with the partition).
EVALUATION_ROWS_SQL = """
SELECT id, trace_id, input_text, output_text, route, model, prompt_version, environment, tags
FROM traces_trace WHERE id = ANY(%(pks)s::bigint[]);
SELECT DISTINCT s.trace_id, s.kind FROM traces_trace t
CROSS JOIN LATERAL (
    SELECT s.trace_id, s.kind FROM traces_span s
    WHERE s.project_id = t.project_id AND s.trace_id = t.id AND s.partition_at = t.partition_at OFFSET 0
) s
WHERE t.id = ANY(%(pks)s::bigint[]);
SELECT s.trace_id, s.kind, s.input_text, s.output_text, s.system_instructions, s.documents, s.retrieval_query,
       s.output_messages, s.tool_definitions, s.finish_reasons, s.request_params, s.output_type
FROM traces_trace t
CROSS JOIN LATERAL (
    SELECT s.trace_id, s.kind, s.started_at, s.input_text, s.output_text, s.system_instructions, s.documents,
        s.retrieval_query, s.output_messages, s.tool_definitions, s.finish_reasons, s.request_params,
        s.attributes ->> 'gen_ai.output.type' AS output_type
    FROM traces_span s
    WHERE s.project_id = t.project_id AND s.trace_id = t.id AND s.partition_at = t.partition_at
        AND s.kind IN ('llm', 'retrieval')
    OFFSET 0
) s
WHERE t.id = ANY(%(pks)s::bigint[])
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


# The spans of these traces that carry in-span evaluations (OpenInference `evaluations.*`), by each trace's full
# key as EVALUATION_ROWS_SQL reads them (filtering spans by project and trace id alone probed every partition and,
# without statistics, scanned the project's whole day of spans for each batch).
SPAN_EVALUATIONS_SQL = """
SELECT s.trace_id, s.span_id, s.evaluations FROM traces_trace t
CROSS JOIN LATERAL (
    SELECT s.trace_id, s.span_id, s.evaluations FROM traces_span s
    WHERE s.project_id = t.project_id AND s.trace_id = t.id AND s.partition_at = t.partition_at
        AND s.evaluations <> '[]'::jsonb
    OFFSET 0
) s
WHERE t.project_id = %(project)s AND t.id = ANY(%(pks)s::bigint[])
"""


def span_evaluations_list(*, project_id: int, trace_pks: Sequence[int]) -> list[tuple[int, str, list]]:
    """Return (trace row id, span id, evaluations) for the spans of these traces that carry evaluations."""
    if not trace_pks:
        return []
    with connection.cursor() as cursor:
        cursor.execute(SPAN_EVALUATIONS_SQL, {"project": project_id, "pks": list(trace_pks)})
        return [(pk, sid, _evaluations(value)) for pk, sid, value in cursor.fetchall()]


def _evaluations(value: Any) -> list:
    """A jsonb value as Python: psycopg loads jsonb already; text (a custom loader) is parsed."""
    return json.loads(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation: a trace of the session and the user's message it answered."""

    trace_pk: int
    trace_id: str
    started_at: datetime
    ended_at: datetime | None
    user_text: str


# The user's turn is the trace's last user message with text. It is read from the spans' stored input messages,
# not from Trace.input_text, which falls back to the last message of any role (a tool result, a system prompt).
# The root span wins (the application's own view of the request), else the earliest span that has one: later LLM
# calls of an agent loop repeat the conversation with tool traffic appended. Only when no span stored messages at
# all (plain-text inputs such as OpenInference's input.value) does the trace's input text stand in; a trace whose
# messages hold no user message (a background call with a system prompt only) is not a user turn.
# Two statements, each planned with the partitions it reads: the session's newest traces, then the spans of exactly
# those traces by their full key (project, trace row, partition_at = ANY(…), pruned when planned). One statement with
# the span reads as correlated subqueries had to plan every span partition for each call (~11 ms with 9 partitions,
# growing with retention), and read spans by trace row alone, which the span index (project_id, trace_id, …) cannot
# serve: the EXISTS became one scan of every span of the project.
SESSION_TRACES_SQL = """
SELECT t.id, t.trace_id, t.started_at, t.ended_at, t.input_text, t.partition_at
FROM traces_trace t
WHERE t.project_id = %(project_id)s AND t.session_id = %(session_id)s AND t.started_at >= %(since)s
    AND t.partition_at >= %(partition_since)s
ORDER BY t.started_at DESC, t.id DESC
LIMIT %(limit)s
"""
SESSION_TURN_MESSAGES_SQL = """
SELECT s.trace_id,
    (array_agg(last_user.msg ORDER BY s.is_root DESC, s.started_at, s.span_id)
        FILTER (WHERE last_user.msg IS NOT NULL))[1] AS user_message,
    bool_or(CASE WHEN jsonb_typeof(s.input_messages) = 'array' THEN jsonb_array_length(s.input_messages) > 0
        ELSE false END) AS has_messages
FROM traces_span s
LEFT JOIN LATERAL (
    SELECT e.msg
    FROM jsonb_array_elements(
        CASE WHEN jsonb_typeof(s.input_messages) = 'array' THEN s.input_messages ELSE '[]'::jsonb END
    ) WITH ORDINALITY AS e(msg, n)
    WHERE jsonb_typeof(e.msg) = 'object' AND e.msg ->> 'role' = 'user'
        AND jsonb_path_exists(e.msg, '$.parts[*] ? (@.type == "text")')
    ORDER BY e.n DESC
    LIMIT 1
) AS last_user ON true
WHERE s.project_id = %(project_id)s AND s.trace_id = ANY(%(ids)s::bigint[])
    AND s.partition_at = ANY(%(parts)s::timestamptz[])
GROUP BY s.trace_id
"""


def session_turn_list(
    *, project_id: int, session_id: str, since: datetime | None = None, limit: int = 500
) -> list[Turn]:
    """Return a session's turns (its newest `limit` traces since `since`) in start order, each with the user's message."""
    if not session_id:
        return []
    since = since or datetime(1970, 1, 1, tzinfo=UTC)
    # A trace's spans all started within TRACE_PARTITION_WINDOW of its partition_at, so one that started at or after
    # `since` lies in a partition from `since` - the window on: older days are pruned when the statement is planned.
    params = {
        "project_id": project_id,
        "session_id": session_id,
        "since": since,
        "partition_since": since - TRACE_PARTITION_WINDOW,
        "limit": limit,
    }
    with connection.cursor() as cursor:
        cursor.execute(SESSION_TRACES_SQL, params)
        rows = cursor.fetchall()
        messages: dict[int, tuple[Any, bool]] = {}
        if rows:
            ids = [row[0] for row in rows]
            parts = sorted({row[5] for row in rows})
            cursor.execute(SESSION_TURN_MESSAGES_SQL, {"project_id": project_id, "ids": ids, "parts": parts})
            messages = {pk: (message, bool(has)) for pk, message, has in cursor.fetchall()}
    turns = []
    for pk, trace_id, started_at, ended_at, input_text, _part in reversed(rows):
        message, has_messages = messages.get(pk, (None, False))
        if isinstance(message, str):  # a driver without jsonb decoding hands back text
            message = json.loads(message)
        if isinstance(message, dict):
            text = parts_text(message.get("parts") or [])
        else:
            text = "" if has_messages else input_text
        turns.append(Turn(trace_pk=pk, trace_id=trace_id, started_at=started_at, ended_at=ended_at, user_text=text))
    return turns


def trace_session_starts(*, project_id: int, trace_pks: Sequence[int]) -> dict[str, datetime]:
    """Return, per session id among some of the project's traces, the earliest start among them."""
    rows = (
        Trace.objects.filter(project_id=project_id, id__in=list(trace_pks))
        .exclude(session_id="")
        .values("session_id")
        .annotate(first=Min("started_at"))
        .order_by("session_id")
        .values_list("session_id", "first")
    )
    return dict(rows)


def session_idle_list(
    *, project_id: int, idle_from: datetime, idle_until: datetime, max_trace_s: float = 86_400, limit: int = 1000
) -> list[str]:
    """Return the project's sessions whose last answer ended in [idle_from, idle_until), oldest first.

    The abandon sweep's read: a session is due once its last answer is a full window old. Traces are scanned
    by start time (the trace_project_time index) from `max_trace_s` before idle_from, so a trace longer than
    that is not seen.
    """
    last = Coalesce("ended_at", "started_at")
    rows = (
        Trace.objects.filter(project_id=project_id, started_at__gte=idle_from - timedelta(seconds=max_trace_s))
        .exclude(session_id="")
        .values("session_id")
        .annotate(last_at=Max(last))
        .filter(last_at__gte=idle_from, last_at__lt=idle_until)
        .order_by("last_at", "session_id")
        .values_list("session_id", flat=True)
    )
    return list(rows[:limit])


def trace_refs(*, project_id: int, trace_pks: Sequence[int]) -> list[tuple[int, str, Any]]:
    """Return (pk, trace id, started_at) of the project's traces among trace_pks: how other apps refer to them."""
    if not trace_pks:
        return []
    return list(
        Trace.objects.filter(project_id=project_id, id__in=list(trace_pks)).values_list("id", "trace_id", "started_at")
    )


# --- the trace-level conversation (the trace page leads with it) ---------------------------------------------------

# A message or document longer than this is shown collapsed (<details>) with a preview.
CONVERSATION_COLLAPSE_CHARS = 600
SYSTEM_ROLES = frozenset({"system", "developer"})


@dataclass
class ConversationEntry:
    """One line of a trace's conversation: a message, a tool execution, or a retrieval with its documents."""

    kind: str  # "message" | "tool" | "retrieval"
    span_id: str
    role: str = ""
    message: dict[str, Any] | None = None
    is_answer: bool = False
    tool_call: dict[str, Any] | None = None
    query: str = ""
    documents: list[dict[str, Any]] = field(default_factory=list)
    is_long: bool = False


@dataclass
class Conversation:
    """What a trace said, gathered from all its spans: the system prompt, the turns in order, and the answer."""

    system: str = ""
    system_span_id: str = ""
    entries: list[ConversationEntry] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.system and not self.entries


def _message_key(message: dict[str, Any]) -> str:
    """Identity of a message across spans (a later call's input repeats the earlier turns)."""
    return repr((message.get("role"), message.get("parts")))


def _message_text_length(message: dict[str, Any]) -> int:
    total = 0
    for part in message.get("parts") or []:
        if isinstance(part, dict):
            for key in ("content", "arguments", "response"):
                value = part.get(key)
                if value is not None:
                    total += len(value) if isinstance(value, str) else len(repr(value))
    return total


def _text_message(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": text}]}


def trace_conversation(*, trace: Trace, spans: Sequence[Span] | None = None) -> Conversation:
    """Return the trace's conversation, gathered from its spans in time order (content may sit on any child span).

    1. LLM spans, in start order, add the input messages not seen in an earlier call, then their output.
    2. Retrieval spans add their query and documents; tool spans add their call unless a message already
       carries its result.
    3. Without any message (plain text instrumentation), the trace's own input and output stand in.
    The last assistant output is the answer; the first system prompt found is the system prompt.
    """
    if spans is None:
        spans = list(Span.objects.filter(trace=trace).order_by("started_at", "span_id"))
    ordered = sorted(spans, key=lambda s: (s.started_at, s.span_id))
    conversation = Conversation()
    timeline: list[tuple[Any, int, ConversationEntry]] = []
    seen: set[str] = set()
    answered_tool_calls: set[str] = set()
    seq = 0

    def add(at: Any, entry: ConversationEntry) -> None:
        nonlocal seq
        timeline.append((at, seq, entry))
        seq += 1

    for span in ordered:
        if span.system_instructions and not conversation.system:
            conversation.system, conversation.system_span_id = span.system_instructions, span.span_id
        for direction, messages in (("input", span.input_messages), ("output", span.output_messages)):
            for message in messages or []:
                if not isinstance(message, dict):
                    continue
                role = str(message.get("role") or "")
                if role in SYSTEM_ROLES:
                    if not conversation.system:
                        text = "\n".join(
                            str(p.get("content", "")) for p in message.get("parts") or [] if isinstance(p, dict)
                        )
                        conversation.system, conversation.system_span_id = text, span.span_id
                    continue
                key = _message_key(message)
                if key in seen:
                    continue
                seen.add(key)
                for part in message.get("parts") or []:
                    if isinstance(part, dict) and part.get("type") == "tool_call_response" and part.get("id"):
                        answered_tool_calls.add(str(part["id"]))
                entry = ConversationEntry(
                    kind="message",
                    span_id=span.span_id,
                    role=role,
                    message=message,
                    is_long=_message_text_length(message) > CONVERSATION_COLLAPSE_CHARS,
                )
                add(span.started_at if direction == "input" else span.ended_at, entry)
        if span.kind == "retrieval" and (span.documents or span.retrieval_query):
            add(
                span.started_at,
                ConversationEntry(
                    kind="retrieval", span_id=span.span_id, query=span.retrieval_query, documents=span.documents or []
                ),
            )
    for span in ordered:
        if span.kind != "tool":
            continue
        for call in span.tool_calls or []:
            if isinstance(call, dict) and str(call.get("id") or "") not in answered_tool_calls:
                add(span.started_at, ConversationEntry(kind="tool", span_id=span.span_id, tool_call=call))
    timeline.sort(key=lambda item: (item[0], item[1]))
    conversation.entries = [entry for _, _, entry in timeline]

    if not any(e.kind == "message" for e in conversation.entries):
        # No structured messages anywhere: the trace's input and output text (root or child) stand in.
        root = trace.root_span_id
        first = [
            ConversationEntry(kind="message", span_id=root, role="user", message=_text_message("user", t))
            for t in [trace.input_text]
            if t
        ]
        last = [
            ConversationEntry(kind="message", span_id=root, role="assistant", message=_text_message("assistant", t))
            for t in [trace.output_text]
            if t
        ]
        conversation.entries = first + conversation.entries + last
        for entry in first + last:
            entry.is_long = _message_text_length(entry.message or {}) > CONVERSATION_COLLAPSE_CHARS
    for entry in reversed(conversation.entries):
        if entry.kind == "message" and entry.role == "assistant":
            entry.is_answer = True
            break
    return conversation


def trace_latest(*, project: Project) -> Trace | None:
    """Return the project's newest trace (by start time), or None while it has none (the onboarding page polls this)."""
    return (
        Trace.objects.filter(project=project)
        .only("id", "trace_id", "name", "started_at")
        .order_by("-started_at", "-id")
        .first()
    )
