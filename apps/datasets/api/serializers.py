"""Serializers of the datasets and offline-runs API."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from apps.datasets.models import Dataset, OfflineRun

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
FILTER_HELP = (
    "build from reviewed traces: verdict (fail (default), pass or any: the consensus of the trace's labels), "
    "category, reason (a routing rule kind or text), route, model, prompt_version, since, until (ISO 8601)"
)


def context_clean(value: Any) -> list[dict[str, str]]:
    """Retrieved documents as a list of strings or of {"id", "content"} objects → [{"id", "content"}]."""
    if value in (None, ""):
        return []
    if not isinstance(value, list) or len(value) > 100:
        raise serializers.ValidationError("a list of at most 100 documents (strings or {id, content})")
    out = []
    for i, doc in enumerate(value):
        if isinstance(doc, str):
            out.append({"id": str(i), "content": doc})
        elif isinstance(doc, dict) and isinstance(doc.get("content", ""), str):
            out.append({"id": str(doc.get("id", i))[:200], "content": doc.get("content", "")})
        else:
            raise serializers.ValidationError(f"document {i}: a string or an object with a string content")
    return out


class DatasetFiltersSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=["fail", "pass", "any"], required=False, default="fail")
    category = serializers.CharField(max_length=50, required=False, allow_blank=True)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)
    route = serializers.CharField(max_length=200, required=False, allow_blank=True)
    model = serializers.CharField(max_length=200, required=False, allow_blank=True)
    prompt_version = serializers.CharField(max_length=100, required=False, allow_blank=True)
    since = serializers.DateTimeField(required=False, allow_null=True)
    until = serializers.DateTimeField(required=False, allow_null=True)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({str(unknown[0])[:50]: "unknown filter"})
        return super().to_internal_value(data)


class DatasetCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    filters = DatasetFiltersSerializer(required=False, help_text=FILTER_HELP)


class DatasetOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    version = serializers.IntegerField(help_text="the latest version; 0 while empty")
    item_count = serializers.IntegerField(help_text="items in the latest version")
    built_from = serializers.JSONField(help_text="the filters it was built with, {} when filled by hand")
    created_at = serializers.DateTimeField()
    export_url = serializers.CharField(help_text="GET it for the latest version as JSONL; add ?version=N for another")


class DatasetCreatedSerializer(DatasetOutputSerializer):
    added = serializers.IntegerField(help_text="items added by the build (0 without filters)")


class ItemInputSerializer(serializers.Serializer):
    trace_id = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="a trace of the project: its snapshot is taken now"
    )
    input = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    output = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    context = serializers.JSONField(required=False, default=list, help_text="strings or {id, content} objects")
    expected = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    verdict = serializers.ChoiceField(choices=["", "pass", "fail"], required=False, default="")
    categories = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, default=list, max_length=20
    )
    metadata = serializers.DictField(required=False, default=dict)

    def validate_trace_id(self, value: str) -> str:
        value = value.strip().lower()
        if value and not TRACE_ID.match(value):
            raise serializers.ValidationError("32 lowercase hex characters")
        return value

    def validate_context(self, value: Any) -> list[dict[str, str]]:
        return context_clean(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs["trace_id"] and not (attrs["input"] or attrs["output"]):
            raise serializers.ValidationError({"trace_id": "give a trace_id, or the item's input and output"})
        return attrs


class ItemsAddSerializer(serializers.Serializer):
    items = ItemInputSerializer(many=True, allow_empty=False, max_length=1000)


class ItemsAddedSerializer(serializers.Serializer):
    dataset = serializers.IntegerField()
    version = serializers.IntegerField(help_text="the dataset's version after this call")
    added = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="traces already in the dataset")


class RunItemSerializer(serializers.Serializer):
    input = serializers.CharField(allow_blank=True, trim_whitespace=False)
    output = serializers.CharField(allow_blank=True, trim_whitespace=False)
    context = serializers.JSONField(required=False, default=list, help_text="strings or {id, content} objects")
    expected = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)

    def validate_context(self, value: Any) -> list[dict[str, str]]:
        return context_clean(value)


class OfflineRunCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    dataset = serializers.IntegerField(required=False, allow_null=True, default=None, help_text="a dataset id")
    model = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    prompt_version = serializers.CharField(max_length=100)
    git_revision = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    items = RunItemSerializer(
        many=True, required=False, allow_empty=False, max_length=5000, help_text="scored here by the online evaluators"
    )
    metrics = serializers.DictField(
        required=False,
        allow_empty=False,
        help_text='precomputed: {"name": value} or {"name": {"value": v, "count": n}}; pass rates as 0–1',
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("items" in attrs) == ("metrics" in attrs):
            raise serializers.ValidationError({"items": "send either items (scored here) or metrics, not both"})
        return attrs


class OfflineMetricSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.FloatField(help_text="a pass rate (0–1) for pass/fail metrics, else the mean")
    count = serializers.IntegerField(allow_null=True)
    evaluator_version = serializers.CharField(help_text="the evaluator version that scored it ('' if precomputed)")
    judge_model = serializers.CharField()


class OfflineRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    dataset = serializers.IntegerField(source="dataset_id", allow_null=True)
    dataset_version = serializers.IntegerField(allow_null=True)
    model = serializers.CharField()
    prompt_version = serializers.CharField()
    git_revision = serializers.CharField()
    mode = serializers.ChoiceField(choices=OfflineRun.Mode.choices)
    status = serializers.ChoiceField(choices=OfflineRun.Status.choices)
    items_total = serializers.IntegerField()
    evaluators = serializers.JSONField(help_text="[{id, name, kind, version, judge_model}] that scored the items")
    metrics = OfflineMetricSerializer(many=True, source="metrics.all")
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


def dataset_data(dataset: Dataset, export_url: str, item_count: int) -> dict[str, Any]:
    """A dataset as the API answers it."""
    return {
        "id": dataset.id,
        "name": dataset.name,
        "description": dataset.description,
        "version": dataset.version,
        "item_count": item_count,
        "built_from": dataset.built_from,
        "created_at": dataset.created_at,
        "export_url": export_url,
    }
