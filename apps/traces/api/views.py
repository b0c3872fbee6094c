"""Native traces API: POST a batch, list with filters and a cursor, read one trace as a span tree."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DatabaseError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import (
    BatchResultSerializer,
    batch_error_doc,
    batch_response,
    batch_validate,
    error_response,
    list_envelope,
    list_response,
    unavailable_response,
)
from apps.core.renderers import FastJSONRenderer
from apps.traces.api.otlp_receiver import database_problem
from apps.traces.api.serializers import (
    TraceBatchInputSerializer,
    TraceBatchRequestSerializer,
    TraceDetailOutputSerializer,
    TraceInputSerializer,
    TraceListOutputSerializer,
    trace_list_rows,
)
from apps.traces.bulk import store_isolating_data_errors
from apps.traces.native import native_spans_cap, native_trace_spans
from apps.traces.normalize import NormalizedSpan
from apps.traces.selectors import (
    LIST_PREVIEW_CHARS,
    FilterError,
    TraceFilters,
    span_tree,
    span_tree_flat,
    trace_get,
    trace_metadata,
    trace_page,
)
from apps.traces.services import spans_ingest

BATCH_EXAMPLE = {
    "traces": [
        {
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "name": "answer_question",
            "route": "/support/chat",
            "environment": "production",
            "prompt_version": "support-v12",
            "user_id": "user-812",
            "session_id": "sess-77",
            "tags": ["beta"],
            "started_at": "2026-11-27T10:00:00Z",
            "ended_at": "2026-11-27T10:00:02.300Z",
            "input": "How do I reset my password?",
            "output": "Open Settings → Security and choose Reset password [1].",
            "spans": [
                {
                    "span_id": "00f067aa0ba902b7",
                    "kind": "retrieval",
                    "name": "search help center",
                    "started_at": "2026-11-27T10:00:00.050Z",
                    "ended_at": "2026-11-27T10:00:00.400Z",
                    "retrieval_query": "reset password",
                    "documents": [{"id": "kb-12", "content": "To reset your password open Settings…", "score": 0.82}],
                },
                {
                    "span_id": "00f067aa0ba902b8",
                    "kind": "llm",
                    "name": "chat gpt-4o",
                    "model": "gpt-4o-2024-08-06",
                    "provider": "openai",
                    "started_at": "2026-11-27T10:00:00.400Z",
                    "ended_at": "2026-11-27T10:00:02.250Z",
                    "input": [
                        {"role": "system", "content": "Answer from the help center only."},
                        {"role": "user", "content": "How do I reset my password?"},
                    ],
                    "output": [
                        {"role": "assistant", "content": "Open Settings → Security and choose Reset password [1]."}
                    ],
                    "usage": {"input_tokens": 412, "output_tokens": 31},
                    "cost": 0.00134,
                },
            ],
        }
    ]
}


def _nul_path(value: Any, path: str) -> str:
    """Return the path of the first string holding a NUL byte (PostgreSQL refuses them), else `path`."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return where
        elif isinstance(node, dict):
            for key, child in reversed(list(node.items())):
                stack.append((child, f"{where}.{key}"))
                if "\x00" in str(key):
                    return where
        elif isinstance(node, list):
            stack.extend((child, f"{where}[{i}]") for i, child in reversed(list(enumerate(node))))
    return path


class TracesApi(APIView):
    """POST a batch of traces (native format); GET the filtered list, newest first."""

    def get_renderers(self) -> list[BaseRenderer]:
        # The list (up to 200 rows) is written by orjson: same JSON values as JSONRenderer (apps/core/renderers.py).
        request = getattr(self, "request", None)
        if request is not None and request.method == "GET":
            return [FastJSONRenderer()]
        return super().get_renderers()

    @extend_schema(
        summary="Ingest a batch of traces",
        description=(
            "For applications that do not use OpenTelemetry. Each trace carries its own fields and, optionally, its "
            "spans; a trace without a root span gets one built from its own fields. Resending a trace (same "
            "trace_id and span ids) stores nothing twice. Valid traces are stored even when others in the batch "
            "are rejected; each rejected one is listed with its index and why. A 2xx means committed."
        ),
        request=TraceBatchRequestSerializer,
        responses={200: BatchResultSerializer, 400: batch_error_doc()},
        examples=[OpenApiExample("A RAG answer with retrieval and LLM spans", value=BATCH_EXAMPLE, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        envelope = TraceBatchInputSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        items = envelope.validated_data["traces"]
        if len(items) > settings.INGEST_MAX_TRACES_PER_REQUEST:
            return error_response(
                f"traces: at most {settings.INGEST_MAX_TRACES_PER_REQUEST} traces per request",
                "too_many_traces",
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                field="traces",
            )
        valid, rejected = batch_validate("traces", items, TraceInputSerializer)
        # The same limits as OTLP ingest: spans per request, and over-long values cut and listed.
        given_spans = sum(len(data.get("spans") or ()) for _, data in valid)
        if given_spans > settings.INGEST_MAX_SPANS_PER_REQUEST:
            return error_response(
                f"traces: at most {settings.INGEST_MAX_SPANS_PER_REQUEST} spans per request; send smaller batches",
                "too_many_spans",
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                field="traces",
            )
        parsed: list[tuple[int, list[NormalizedSpan]]] = []
        for index, data in valid:
            spans = native_trace_spans(data)
            native_spans_cap(spans, settings.INGEST_MAX_VALUE_CHARS)
            parsed.append((index, spans))
        try:
            # A value the database refuses rejects only its trace; the others are stored.
            _, refused = store_isolating_data_errors(
                parsed,
                lambda group: spans_ingest(
                    project=request.auth.project, spans=[s for _, spans in group for s in spans]
                ),
            )
        except DatabaseError as exc:
            return unavailable_response(database_problem(exc))
        for (index, _), reason in refused:
            field = _nul_path(items[index], f"traces[{index}]")
            rejected.append(
                {"index": index, "field": field, "error": f"{field}: the database refused a value ({reason})"}
            )
        return batch_response(len(parsed) - len(refused), rejected)

    @extend_schema(
        summary="List traces, newest first",
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="started at or after (UTC when no offset)"),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="started before"),
            *[
                OpenApiParameter(n, str)
                for n in ("route", "model", "prompt_version", "environment", "user_id", "session_id")
            ],
            OpenApiParameter("tag", str, description="comma-separated; traces carrying all of them"),
            OpenApiParameter("status", str, enum=["ok", "error", "unset"]),
            OpenApiParameter("has_feedback", bool),
            OpenApiParameter(
                "q", str, description="3–200 characters: an exact trace id, or text in the name, input or output"
            ),
            OpenApiParameter(
                "score",
                str,
                many=True,
                description="repeatable; traces with a matching score: refusal:failed, grounding<0.7, helpfulness>=4",
            ),
            OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
            OpenApiParameter("limit", int, description="1–200, default 50"),
            OpenApiParameter(
                "include",
                str,
                enum=["content"],
                description=(
                    "`content` adds each trace's whole `input` and `output` to its row. Without it a row carries "
                    f"their first {LIST_PREVIEW_CHARS} characters (`input_preview`, `output_preview`), their length "
                    "and whether the preview is cut; GET /api/v1/traces/{trace_id} always has the whole text"
                ),
            ),
        ],
        responses={200: list_envelope(TraceListOutputSerializer)},
    )
    def get(self, request: Request) -> Response:
        try:
            filters = TraceFilters.from_query(request.query_params)
            limit = _limit(request.query_params.get("limit"))
            include_content = _include_content(request.query_params.getlist("include"))
            rows, next_cursor = trace_page(
                project=request.auth.project,
                filters=filters,
                cursor=request.query_params.get("cursor", ""),
                limit=limit,
                preview_chars=LIST_PREVIEW_CHARS,
                content=include_content,
                as_dicts=True,
            )
        except FilterError as exc:
            return error_response(str(exc), "invalid_filter", 400, field=exc.field)
        data = trace_list_rows(rows, include_content=include_content)  # TraceListOutputSerializer's JSON, faster
        return list_response(data, next_cursor)


def _include_content(raw: list[str]) -> bool:
    """Parse `include` (comma-separated, repeatable): only `content` is known."""
    names = {name.strip() for value in raw for name in value.split(",") if name.strip()}
    unknown = sorted(names - {"content"})
    if unknown:
        raise FilterError("include", f"unknown {unknown[0]!r}; use content")
    return "content" in names


def _limit(raw: str | None) -> int:
    if not raw:
        return 50
    try:
        value = int(raw)
    except ValueError as exc:
        raise FilterError("limit", "must be an integer") from exc
    if not 1 <= value <= 200:
        raise FilterError("limit", "must be between 1 and 200")
    return value


class TraceDetailApi(APIView):
    """One trace with its spans as a tree; routed by the scores app, which adds the trace's scores."""

    output_serializer_class: type[TraceDetailOutputSerializer] = TraceDetailOutputSerializer

    @extend_schema(summary="Get a trace with its span tree", responses={200: TraceDetailOutputSerializer})
    def get(self, request: Request, trace_id: str) -> Response:
        trace = trace_get(project=request.auth.project, trace_id=trace_id)
        if trace is None:
            return error_response(
                f"trace_id: no trace {trace_id!r} in this project", "not_found", 404, field="trace_id"
            )
        nodes = span_tree_flat(roots=span_tree(trace=trace))
        trace.metadata = trace_metadata(trace=trace, spans=[n.span for n in nodes])
        context = {
            "spans": [n.span for n in nodes],
            "depths": {n.span.span_id: n.depth for n in nodes},
            "children": {n.span.span_id: [c.span.span_id for c in n.children] for n in nodes},
        }
        return Response(self.output_serializer_class(trace, context=context).data)
