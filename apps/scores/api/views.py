"""POST /api/v1/scores: scores computed outside Sightline's evaluators (external, human, feedback, offline)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import BatchResultSerializer, batch_error_doc, batch_response, batch_validate
from apps.scores.api.serializers import TraceScoredDetailOutputSerializer
from apps.scores.models import Score
from apps.scores.services import external_scores_ingest
from apps.traces.api.views import TraceDetailApi

# Sources a client may file scores under. `programmatic` and `judge` are what Sightline's own evaluators
# write: a client sending them would pass its numbers off as Sightline's, so they are refused by name.
API_SOURCES = [Score.Source.EXTERNAL, Score.Source.HUMAN, Score.Source.FEEDBACK, Score.Source.OFFLINE]

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
    source = serializers.ChoiceField(
        choices=[(s.value, s.label) for s in API_SOURCES],
        required=False,
        default=Score.Source.EXTERNAL.value,
        help_text="who produced the score; programmatic and judge are reserved for Sightline's evaluators",
        error_messages={"invalid_choice": f"must be one of {', '.join(API_SOURCES)}, not {{input!r}}"},
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["value"] is None and not attrs["label"] and attrs["passed"] is None:
            raise serializers.ValidationError({"value": "a score needs a value, a label or passed"})
        return attrs


MAX_SCORES_PER_REQUEST = 5000


class ScoreBatchInputSerializer(serializers.Serializer):
    scores = serializers.ListField(child=serializers.DictField(), max_length=MAX_SCORES_PER_REQUEST)


class ScoreBatchRequestSerializer(serializers.Serializer):
    """The batch as documented: each score is validated on its own, so one bad score rejects only itself."""

    scores = ScoreInputSerializer(many=True, max_length=MAX_SCORES_PER_REQUEST)


class ScoresApi(APIView):
    """Record scores computed outside Sightline's evaluators against traces it has."""

    @extend_schema(
        summary="Record scores computed elsewhere",
        description=(
            "Each score names a trace by its trace_id (the trace must exist in the project) and says who produced "
            "it: `external` (the default), `human`, `feedback` or `offline`. Valid scores are stored even when "
            "others are rejected; each rejected one comes back with its index, field and reason."
        ),
        request=ScoreBatchRequestSerializer,
        responses={200: BatchResultSerializer, 400: batch_error_doc()},
        examples=[OpenApiExample("One external score", value=SCORE_EXAMPLE, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        envelope = ScoreBatchInputSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        valid, rejected = batch_validate("scores", envelope.validated_data["scores"], ScoreInputSerializer)
        missing = external_scores_ingest(project=request.auth.project, items=valid)
        rejected += [
            {"index": i, "field": f"scores[{i}].trace_id", "error": f"trace_id: no trace {tid!r} in this project"}
            for i, tid in missing
        ]
        return batch_response(len(valid) - len(missing), rejected)


class TraceScoredDetailApi(TraceDetailApi):
    """One trace with its span tree and its scores: composed here because scores sit above traces."""

    output_serializer_class = TraceScoredDetailOutputSerializer

    @extend_schema(
        summary="Get a trace with its span tree and scores", responses={200: TraceScoredDetailOutputSerializer}
    )
    def get(self, request: Request, trace_id: str) -> Response:
        return super().get(request, trace_id)
