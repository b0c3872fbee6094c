"""POST /api/v1/scores: scores computed elsewhere (source `external`), with per-item errors."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import error_field, error_lines
from apps.scores.services import external_scores_ingest

SCORE_EXAMPLE = {
    "scores": [
        {
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "name": "resolution",
            "value": 1,
            "passed": True,
            "label": "resolved",
            "explanation": "customer confirmed the fix",
        },
    ]
}


class ScoreInputSerializer(serializers.Serializer):
    trace_id = serializers.RegexField(r"^[0-9a-fA-F]{32}$", error_messages={"invalid": "must be 32 hex characters"})
    span_id = serializers.RegexField(
        r"^[0-9a-fA-F]{16}$",
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": "must be 16 hex characters"},
    )
    name = serializers.RegexField(
        r"^[A-Za-z0-9_.:-]{1,100}$", error_messages={"invalid": "use 1-100 letters, digits, _ . : -"}
    )
    value = serializers.FloatField(required=False, allow_null=True, default=None)
    label = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    passed = serializers.BooleanField(required=False, allow_null=True, default=None)
    explanation = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
    version = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="your evaluator's version; a resend of the same version replaces",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["value"] is None and not attrs["label"] and attrs["passed"] is None:
            raise serializers.ValidationError({"value": "a score needs a value, a label or passed"})
        return attrs


class ScoreBatchInputSerializer(serializers.Serializer):
    scores = serializers.ListField(child=serializers.DictField(), max_length=5000)


class RejectedScoreSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    field = serializers.CharField()
    error = serializers.CharField()


class ScoreBatchOutputSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    rejected = RejectedScoreSerializer(many=True)


class ScoresApi(APIView):
    """Record scores computed outside Sightline against traces it has."""

    @extend_schema(
        summary="Record external scores",
        description=(
            "Each score names a trace by its trace_id (the trace must exist in the project). Valid scores are stored "
            "even when others are rejected; each rejected one comes back with its index, field and reason."
        ),
        request=ScoreBatchInputSerializer,
        responses={200: ScoreBatchOutputSerializer, 400: ScoreBatchOutputSerializer},
        examples=[OpenApiExample("One external score", value=SCORE_EXAMPLE, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        envelope = ScoreBatchInputSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        valid: list[tuple[int, dict[str, Any]]] = []
        rejected: list[dict[str, Any]] = []
        for index, item in enumerate(envelope.validated_data["scores"]):
            serializer = ScoreInputSerializer(data=item)
            if serializer.is_valid():
                valid.append((index, serializer.validated_data))
            else:
                field = error_field(serializer.errors)
                rejected.append(
                    {"index": index, "field": f"scores[{index}].{field}", "error": error_lines(serializer.errors)[0]}
                )
        missing = external_scores_ingest(project=request.auth.project, items=valid)
        rejected += [
            {"index": i, "field": f"scores[{i}].trace_id", "error": f"trace_id: no trace {tid!r} in this project"}
            for i, tid in missing
        ]
        rejected.sort(key=lambda r: r["index"])
        accepted = len(valid) - len(missing)
        body = {"accepted": accepted, "rejected": rejected}
        if rejected and not accepted:
            return Response({"error": rejected[0]["error"], "field": rejected[0]["field"], **body}, status=400)
        return Response(body)
