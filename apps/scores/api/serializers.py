"""Serializers of scores in API answers, and the trace detail that carries them."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.scores.selectors import trace_scores
from apps.traces.api.serializers import TraceDetailOutputSerializer


class ScoreOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    label = serializers.CharField()
    passed = serializers.BooleanField(allow_null=True)
    explanation = serializers.CharField()
    source = serializers.CharField()
    span_id = serializers.CharField()
    evaluator_version = serializers.CharField()


class TraceScoredDetailOutputSerializer(TraceDetailOutputSerializer):
    """A trace with its span tree and its scores."""

    scores = serializers.SerializerMethodField()

    @extend_schema_field(ScoreOutputSerializer(many=True))
    def get_scores(self, trace: Any) -> list[dict[str, Any]]:
        return ScoreOutputSerializer(trace_scores(trace=trace), many=True).data
