"""Serializers of the native traces API: the batch format in, traces and span trees out."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings as dj_settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from apps.traces.models import SpanKind, Status

HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")


def _hex_id(value: str, pattern: re.Pattern[str], size: int) -> str:
    if not pattern.match(value) or set(value) == {"0"}:
        raise serializers.ValidationError(f"must be {size} hex characters, not all zero")
    return value.lower()


class UsageSerializer(serializers.Serializer):
    input_tokens = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    output_tokens = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    total_tokens = serializers.IntegerField(min_value=0, required=False, allow_null=True)


class DocumentSerializer(serializers.Serializer):
    id = serializers.CharField(required=False, allow_blank=True, default="")
    content = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    score = serializers.FloatField(required=False, allow_null=True, default=None)
    metadata = serializers.DictField(required=False, default=dict)


class MessagesOrTextField(serializers.JSONField):
    """Plain text, or a list of chat messages ({"role", "content"} or the OTel parts shape)."""

    def to_internal_value(self, data: Any) -> Any:
        if data is None or isinstance(data, str):
            return data
        if isinstance(data, list) and all(isinstance(m, dict) and "role" in m for m in data):
            return data
        raise serializers.ValidationError("must be a string or a list of messages, each with a role")


class _Common(serializers.Serializer):
    name = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    started_at = serializers.DateTimeField(required=False)
    ended_at = serializers.DateTimeField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=Status.values, required=False, default="unset")
    error = serializers.CharField(required=False, allow_blank=True, default="")
    model = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    provider = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    input = MessagesOrTextField(required=False, allow_null=True, default=None)
    output = MessagesOrTextField(required=False, allow_null=True, default=None)
    usage = UsageSerializer(required=False)
    cost = serializers.FloatField(required=False, allow_null=True, min_value=0)
    metadata = serializers.DictField(required=False, default=dict)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        ended, started = attrs.get("ended_at"), attrs.get("started_at")
        if ended and started and ended < started:
            raise serializers.ValidationError({"ended_at": "must not be before started_at"})
        return attrs


class SpanInputSerializer(_Common):
    span_id = serializers.CharField()
    parent_span_id = serializers.CharField(required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=SpanKind.values, required=False, default="other")
    started_at = serializers.DateTimeField()
    documents = DocumentSerializer(many=True, required=False)
    retrieval_query = serializers.CharField(required=False, allow_blank=True, default="")
    tool_calls = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    finish_reasons = serializers.ListField(child=serializers.CharField(), required=False, default=list)

    def validate_span_id(self, value: str) -> str:
        return _hex_id(value, HEX16, 16)

    def validate_parent_span_id(self, value: str) -> str:
        return _hex_id(value, HEX16, 16) if value else ""


class TraceInputSerializer(_Common):
    trace_id = serializers.CharField(help_text="32 hex characters; resending the same id is idempotent")
    route = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    environment = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    release = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    prompt_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    prompt_version = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    user_id = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    session_id = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
    kind = serializers.ChoiceField(choices=SpanKind.values, required=False)
    spans = SpanInputSerializer(many=True, required=False, default=list)

    def validate_trace_id(self, value: str) -> str:
        return _hex_id(value, HEX32, 32)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if not attrs.get("started_at") and not attrs.get("spans"):
            raise serializers.ValidationError({"started_at": "required when the trace has no spans"})
        ids = [s["span_id"] for s in attrs.get("spans") or []]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError({"spans": "span_id values must be unique within a trace"})
        return attrs


class TraceBatchInputSerializer(serializers.Serializer):
    traces = serializers.ListField(child=serializers.DictField(), allow_empty=True)


class TraceBatchRequestSerializer(serializers.Serializer):
    """The batch as documented: each trace is validated on its own, so one bad trace rejects only itself."""

    traces = TraceInputSerializer(many=True)


class TraceSummarySerializer(serializers.Serializer):
    """A trace's fields without its input and output text (the list and the detail add them their own way)."""

    trace_id = serializers.CharField()
    name = serializers.CharField()
    route = serializers.CharField()
    environment = serializers.CharField()
    model = serializers.CharField()
    provider = serializers.CharField()
    prompt_version = serializers.CharField()
    user_id = serializers.CharField()
    session_id = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    started_at = serializers.DateTimeField()
    latency_ms = serializers.FloatField(allow_null=True)
    status = serializers.CharField()
    error = serializers.CharField()
    input_tokens = serializers.IntegerField(allow_null=True)
    output_tokens = serializers.IntegerField(allow_null=True)
    total_tokens = serializers.IntegerField(allow_null=True)
    cost = serializers.FloatField(allow_null=True)
    cost_source = serializers.ChoiceField(
        choices=["reported", "computed", ""],
        help_text=(
            "where `cost` came from: `reported` by the SDK, `computed` at ingest from the token counts and the "
            "price table (or the project's override) when any part of the total was computed; empty without a cost"
        ),
    )
    span_count = serializers.IntegerField()
    has_feedback = serializers.BooleanField()


class TraceOutputSerializer(TraceSummarySerializer):
    """A trace with its whole input and output text (the detail endpoint)."""

    input = serializers.CharField(source="input_text")
    output = serializers.CharField(source="output_text")


class TraceListOutputSerializer(TraceSummarySerializer):
    """A row of the trace list: a preview of the input and output; the whole text only with `include=content`."""

    input_preview = serializers.CharField(help_text="the input's first characters (LIST_PREVIEW_CHARS, 200)")
    input_length = serializers.IntegerField(help_text="characters in the whole input")
    input_truncated = serializers.SerializerMethodField(help_text="true when the preview is not the whole input")
    output_preview = serializers.CharField(help_text="the output's first characters (200)")
    output_length = serializers.IntegerField(help_text="characters in the whole output")
    output_truncated = serializers.SerializerMethodField(help_text="true when the preview is not the whole output")
    input = serializers.CharField(
        source="input_text", required=False, help_text="the whole input; present only with include=content"
    )
    output = serializers.CharField(
        source="output_text", required=False, help_text="the whole output; present only with include=content"
    )

    def get_input_truncated(self, trace: Any) -> bool:
        return trace.input_length > len(trace.input_preview)

    def get_output_truncated(self, trace: Any) -> bool:
        return trace.output_length > len(trace.output_preview)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        if not self.context.get("include_content", True):  # the schema (no context) documents them
            # The list reads only the previews (the text columns are deferred) unless the whole text is asked for.
            del fields["input"], fields["output"]
        return fields


# TraceListOutputSerializer's fields as a plain function over `.values()` rows: the list answers up to 200 rows,
# and DRF's field-by-field pass (plus a model instance per row) was most of the request's Python. The serializer
# stays the documented schema; tests/traces/test_list_fast_rows.py checks both give the same JSON.
_LIST_TEXT = (
    "trace_id",
    "name",
    "route",
    "environment",
    "model",
    "provider",
    "prompt_version",
    "user_id",
    "session_id",
)
_DATETIME = serializers.DateTimeField()


def _opt(value: Any, kind: type) -> Any:
    return None if value is None else kind(value)


def _datetime_writer() -> Callable[[datetime], str]:
    """DateTimeField.to_representation for this request's rows, with the time zone looked up once, not per value.

    DRF's field asks Django for the current time zone on every value; the list's rows (aware datetimes from
    PostgreSQL) all share it. Any DATETIME_FORMAT other than ISO 8601 goes through the field itself.
    """
    output_format = getattr(_DATETIME, "format", api_settings.DATETIME_FORMAT)
    if not isinstance(output_format, str) or output_format.lower() != ISO_8601 or not dj_settings.USE_TZ:
        return _DATETIME.to_representation
    zone = timezone.get_current_timezone()

    def write(value: datetime) -> str:
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return write


def trace_list_rows(rows: list[dict[str, Any]], *, include_content: bool) -> list[dict[str, Any]]:
    """Return the list rows as TraceListOutputSerializer would, from trace_page(..., as_dicts=True) dicts."""
    started = _datetime_writer()
    out = []
    for row in rows:
        item: dict[str, Any] = {name: _opt(row[name], str) for name in _LIST_TEXT}
        tags = row["tags"]
        item["tags"] = None if tags is None else [None if t is None else str(t) for t in tags]
        item["started_at"] = _opt(row["started_at"], started)
        item["latency_ms"] = _opt(row["latency_ms"], float)
        item["status"] = _opt(row["status"], str)
        item["error"] = _opt(row["error"], str)
        item["input_tokens"] = _opt(row["input_tokens"], int)
        item["output_tokens"] = _opt(row["output_tokens"], int)
        item["total_tokens"] = _opt(row["total_tokens"], int)
        item["cost"] = _opt(row["cost"], float)
        item["cost_source"] = row["cost_source"]
        item["span_count"] = _opt(row["span_count"], int)
        item["has_feedback"] = _opt(row["has_feedback"], bool)
        for which in ("input", "output"):
            preview, length = row[f"{which}_preview"], row[f"{which}_length"]
            item[f"{which}_preview"] = _opt(preview, str)
            item[f"{which}_length"] = _opt(length, int)
            item[f"{which}_truncated"] = length > len(preview)
        if include_content:
            item["input"] = _opt(row["input_text"], str)
            item["output"] = _opt(row["output_text"], str)
        out.append(item)
    return out


class SpanOutputSerializer(serializers.Serializer):
    span_id = serializers.CharField()
    parent_span_id = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    latency_ms = serializers.FloatField()
    status = serializers.CharField()
    error_message = serializers.CharField()
    model = serializers.CharField()
    provider = serializers.CharField()
    prompt_version = serializers.CharField()
    system_instructions = serializers.CharField()
    input_messages = serializers.JSONField()
    output_messages = serializers.JSONField()
    documents = serializers.JSONField()
    tool_calls = serializers.JSONField()
    input_tokens = serializers.IntegerField(allow_null=True)
    output_tokens = serializers.IntegerField(allow_null=True)
    total_tokens = serializers.IntegerField(allow_null=True)
    cost = serializers.FloatField(source="cost_total", allow_null=True)
    attributes = serializers.JSONField()
    depth = serializers.SerializerMethodField(help_text="0 for a root; a child is one deeper than its parent")
    child_span_ids = serializers.SerializerMethodField(help_text="the span's children, in start order")

    def get_depth(self, span: Any) -> int:
        return self.context["depths"][span.span_id]

    def get_child_span_ids(self, span: Any) -> list[str]:
        return self.context["children"].get(span.span_id, [])


class TraceDetailOutputSerializer(TraceOutputSerializer):
    """A trace with its span tree; the scores app extends it with the trace's scores (TraceScoredDetailApi)."""

    metadata = serializers.JSONField()
    spans = serializers.SerializerMethodField(
        help_text=(
            "every span, flat and depth-first (each parent before its children, as a waterfall draws them); "
            "flat so that a tree thousands of spans deep stays readable by any JSON parser"
        )
    )

    @extend_schema_field(SpanOutputSerializer(many=True))
    def get_spans(self, trace: Any) -> list[dict[str, Any]]:
        return SpanOutputSerializer(self.context["spans"], many=True, context=self.context).data
