"""Langfuse-compatible score endpoints, so an app using Langfuse's SDK changes only its host and keys.

`POST /api/public/scores` takes one score as Langfuse's API does; `POST /api/public/ingestion` takes the batch of
events the Python SDK (v3 and later) sends for `create_score()`, of which `score-create` is understood. Both
become external scores; one whose trace has not arrived yet is kept as pending feedback and written when it comes
(`feedback_external_scores_record`), so a score sent before its trace is still a 2xx. They live in the feedback
app because that pending mechanism does.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import error_lines
from apps.feedback.services import feedback_external_scores_record
from apps.projects.authentication import HasProjectApiKey, LangfuseKeyAuthentication
from apps.scores.models import Score

DATA_TYPES = ["NUMERIC", "BOOLEAN", "CATEGORICAL"]
NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
MAX_EVENTS = 1000


class LangfuseScoreSerializer(serializers.Serializer):
    """A Langfuse score body (camelCase, as the SDKs send it)."""

    id = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
    traceId = serializers.CharField(max_length=64, help_text="the OTel trace id (32 hex; a UUID's dashes are dropped)")
    observationId = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=64, help_text="the span id (16 hex)"
    )
    name = serializers.CharField(max_length=100)
    value = serializers.JSONField(help_text="a number (NUMERIC, BOOLEAN as 1/0) or a string (CATEGORICAL)")
    dataType = serializers.ChoiceField(
        choices=DATA_TYPES, required=False, allow_null=True, help_text="inferred from the value when absent"
    )
    comment = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=10_000)

    def validate_traceId(self, value: str) -> str:  # noqa: N802 - Langfuse's field name
        trace_id = value.strip().lower().replace("-", "")
        if not HEX32.match(trace_id):
            raise serializers.ValidationError("must be a 32-hex trace id (or a UUID)")
        return trace_id

    def validate_observationId(self, value: str | None) -> str:  # noqa: N802 - Langfuse's field name
        span_id = (value or "").strip().lower()
        if span_id and not HEX16.match(span_id):
            raise serializers.ValidationError("must be a 16-hex span id")
        return span_id

    def validate_name(self, value: str) -> str:
        if not NAME.match(value):
            raise serializers.ValidationError("use 1-100 letters, digits, _ . : -")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Turn the Langfuse score into the fields of an external score."""
        value, data_type = attrs["value"], attrs.get("dataType")
        if data_type is None:
            data_type = "CATEGORICAL" if isinstance(value, str) else "NUMERIC"
        number: float | None = None
        label, passed = "", None
        if data_type == "CATEGORICAL":
            if not isinstance(value, (str, int, float)) or isinstance(value, bool) or str(value) == "":
                raise serializers.ValidationError({"value": "a CATEGORICAL score's value is a non-empty string"})
            label = str(value)[:100]
        else:
            if isinstance(value, bool):
                value = int(value)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise serializers.ValidationError({"value": f"a {data_type} score's value is a finite number"})
            number = float(value)
            if data_type == "BOOLEAN":
                if number not in (0.0, 1.0):
                    raise serializers.ValidationError({"value": "a BOOLEAN score's value is 1 or 0"})
                passed = number == 1.0
        return {
            "id": attrs.get("id") or str(uuid.uuid4()),
            "trace_id": attrs["traceId"],
            "span_id": attrs.get("observationId") or "",
            "name": attrs["name"],
            "value": number,
            "label": label,
            "passed": passed,
            "explanation": attrs.get("comment") or "",
            "version": "",
            "source": Score.Source.EXTERNAL,
        }


class LangfuseScoreCreatedSerializer(serializers.Serializer):
    id = serializers.CharField()


class LangfuseScoreCreateApi(APIView):
    """Langfuse's `POST /api/public/scores`: one score for a trace (or one of its spans)."""

    authentication_classes = [LangfuseKeyAuthentication]
    permission_classes = [HasProjectApiKey]

    @extend_schema(
        summary="Record a score sent by Langfuse's SDK or API",
        description=(
            "Langfuse compatibility: authenticate with HTTP Basic (`public_key:secret_key`, the secret being a "
            "Sightline write key). NUMERIC keeps the value, BOOLEAN also sets passed (1 passes), CATEGORICAL "
            "becomes the label; `comment` is the explanation. Stored as an `external` score; a resend with the "
            "same trace, observation and name replaces it. A score for a trace not stored yet is kept (200) and "
            "written when the trace arrives; until then it is listed with the project's unlinked feedback."
        ),
        request=LangfuseScoreSerializer,
        responses={200: LangfuseScoreCreatedSerializer},
        examples=[
            OpenApiExample(
                "A boolean score",
                value={
                    "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
                    "observationId": "00f067aa0ba902b7",
                    "name": "correctness",
                    "value": 1,
                    "dataType": "BOOLEAN",
                    "comment": "matches the reference answer",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = LangfuseScoreSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        feedback_external_scores_record(project=request.auth.project, items=[(0, data)])
        return Response({"id": data["id"]}, status=status.HTTP_200_OK)


class LangfuseEventSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=200)
    type = serializers.CharField(max_length=64)
    timestamp = serializers.CharField(required=False, allow_blank=True, max_length=64)
    body = serializers.DictField()


class LangfuseIngestionSerializer(serializers.Serializer):
    batch = serializers.ListField(child=serializers.DictField(), max_length=MAX_EVENTS)
    metadata = serializers.JSONField(required=False)


class LangfuseIngestionRequestSerializer(serializers.Serializer):
    """The batch as documented: each event is checked on its own."""

    batch = LangfuseEventSerializer(many=True, max_length=MAX_EVENTS)
    metadata = serializers.JSONField(required=False)


class LangfuseIngestionSuccessSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.IntegerField()


class LangfuseIngestionErrorSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.IntegerField()
    message = serializers.CharField()
    error = serializers.CharField()


class LangfuseIngestionResultSerializer(serializers.Serializer):
    successes = LangfuseIngestionSuccessSerializer(many=True)
    errors = LangfuseIngestionErrorSerializer(many=True)


class LangfuseIngestionApi(APIView):
    """Langfuse's `POST /api/public/ingestion`: the SDK's event batches; `score-create` events become scores."""

    authentication_classes = [LangfuseKeyAuthentication]
    permission_classes = [HasProjectApiKey]

    @extend_schema(
        summary="Receive a Langfuse SDK event batch (scores)",
        description=(
            "Langfuse compatibility: the Python SDK (v3+) sends `create_score()` here as `score-create` events. "
            "Those become `external` scores; other event types are answered as errors per event (send traces "
            "over OTLP to `/api/public/otel/v1/traces`). Answers 207 with `successes` and `errors`, as Langfuse does."
        ),
        request=LangfuseIngestionRequestSerializer,
        responses={207: LangfuseIngestionResultSerializer},
    )
    def post(self, request: Request) -> Response:
        envelope = LangfuseIngestionSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        successes: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        scores: list[tuple[int, dict[str, Any]]] = []
        event_ids: dict[int, str] = {}
        for index, raw in enumerate(envelope.validated_data["batch"]):
            event = LangfuseEventSerializer(data=raw)
            event_id = str(raw.get("id") or index)[:200]
            if not event.is_valid():
                errors.append(_event_error(event_id, 400, f"batch[{index}]: {_first_error(event.errors)}"))
                continue
            if event.validated_data["type"] != "score-create":
                message = f"event type {event.validated_data['type']!r} is not supported; send traces over OTLP"
                errors.append(_event_error(event_id, 400, message))
                continue
            score = LangfuseScoreSerializer(data=event.validated_data["body"])
            if not score.is_valid():
                errors.append(_event_error(event_id, 400, f"batch[{index}].body: {_first_error(score.errors)}"))
                continue
            scores.append((index, score.validated_data))
            event_ids[index] = event_id
        if scores:  # those whose trace is not here yet are kept pending, and are successes too
            feedback_external_scores_record(project=request.auth.project, items=scores)
        successes.extend({"id": event_ids[index], "status": 201} for index, _ in scores)
        return Response({"successes": successes, "errors": errors}, status=207)


def _event_error(event_id: str, code: int, message: str) -> dict[str, Any]:
    return {"id": event_id, "status": code, "message": message, "error": message}


def _first_error(errors: Any) -> str:
    lines = error_lines(errors)
    return lines[0] if lines else "invalid"
