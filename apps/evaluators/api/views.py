"""Evaluators API: define, list, change evaluators; start and follow backfills."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import error_response, list_envelope, list_response, validation_error_response
from apps.evaluators.models import Backfill, Evaluator
from apps.evaluators.selectors import backfill_get, evaluator_get, evaluator_list, evaluator_pass_rates
from apps.evaluators.services import EvaluatorSpec, backfill_start, evaluator_create, evaluator_update
from apps.judges.selectors import judge_get_by_name
from apps.projects.authentication import CONFIGURATION_PERMISSIONS


class EvaluatorInputSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    kind = serializers.ChoiceField(choices=Evaluator.Kind.choices)
    config = serializers.DictField(required=False, default=dict)
    filters = serializers.DictField(required=False, default=dict)
    sample_rate = serializers.FloatField(required=False, default=1.0, min_value=0.0, max_value=1.0)
    is_enabled = serializers.BooleanField(required=False, default=True)
    judge = serializers.CharField(required=False, allow_blank=True, default="", help_text="the judge's name")


class EvaluatorChangeSerializer(EvaluatorInputSerializer):
    """A change: name and kind default to the evaluator's own; the other fields replace what it has."""

    name = serializers.SlugField(max_length=100, required=False)
    kind = serializers.ChoiceField(choices=Evaluator.Kind.choices, required=False)


class EvaluatorOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    version = serializers.CharField()
    config = serializers.JSONField()
    filters = serializers.JSONField()
    sample_rate = serializers.FloatField()
    is_enabled = serializers.BooleanField()
    is_default = serializers.BooleanField()
    judge = serializers.CharField(source="judge.name", default=None, allow_null=True, help_text="the judge's name")


class EvaluatorRatesSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    pass_rate = serializers.FloatField(allow_null=True, help_text="share passed among scores with a verdict")
    mean = serializers.FloatField(allow_null=True)


class EvaluatorListItemSerializer(EvaluatorOutputSerializer):
    last_24h = EvaluatorRatesSerializer(allow_null=True, help_text="scores of the current version, last 24 h")


def _spec(request: Request, data: dict[str, Any]) -> EvaluatorSpec:
    judge = None
    if data.get("judge"):
        judge = judge_get_by_name(project=request.auth.project, name=data["judge"])
        if judge is None:
            raise ValidationError({"judge": f"no judge named {data['judge']!r} in this project"})
    return EvaluatorSpec(
        name=data["name"],
        kind=data["kind"],
        config=data["config"],
        filters=data["filters"],
        sample_rate=data["sample_rate"],
        is_enabled=data["is_enabled"],
        judge=judge,
    )


class EvaluatorsApi(APIView):
    """List the project's evaluators (with 24 h figures) or define a new one."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(summary="List evaluators", responses=list_envelope(EvaluatorListItemSerializer))
    def get(self, request: Request) -> Response:
        project = request.auth.project
        rates = evaluator_pass_rates(project=project)
        rows = []
        for ev in evaluator_list(project=project):
            data = EvaluatorOutputSerializer(ev).data
            data["last_24h"] = rates.get(f"{ev.name}@{ev.version}")
            rows.append(data)
        return list_response(rows)

    @extend_schema(
        summary="Define an evaluator", request=EvaluatorInputSerializer, responses={201: EvaluatorOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        payload = EvaluatorInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            evaluator = evaluator_create(project=request.auth.project, spec=_spec(request, payload.validated_data))
        except ValidationError as exc:
            return validation_error_response(exc)
        return Response(EvaluatorOutputSerializer(evaluator).data, status=status.HTTP_201_CREATED)


class EvaluatorDetailApi(APIView):
    """Read or change one evaluator; a change of what it computes gives it a new version."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(summary="Get an evaluator", responses=EvaluatorOutputSerializer)
    def get(self, request: Request, evaluator_id: int) -> Response:
        evaluator = evaluator_get(project=request.auth.project, evaluator_id=evaluator_id)
        if evaluator is None:
            return error_response("evaluator_id: no such evaluator", "not_found", 404, field="evaluator_id")
        return Response(EvaluatorOutputSerializer(evaluator).data)

    @extend_schema(
        summary="Change an evaluator", request=EvaluatorChangeSerializer, responses=EvaluatorOutputSerializer
    )
    def put(self, request: Request, evaluator_id: int) -> Response:
        evaluator = evaluator_get(project=request.auth.project, evaluator_id=evaluator_id)
        if evaluator is None:
            return error_response("evaluator_id: no such evaluator", "not_found", 404, field="evaluator_id")
        payload = EvaluatorChangeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = {"name": evaluator.name, "kind": evaluator.kind, **payload.validated_data}
        try:
            evaluator = evaluator_update(evaluator=evaluator, spec=_spec(request, data))
        except ValidationError as exc:
            return validation_error_response(exc)
        return Response(EvaluatorOutputSerializer(evaluator).data)


class BackfillInputSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()


class BackfillOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    evaluator = serializers.CharField(source="evaluator.name")
    evaluator_version = serializers.CharField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    status = serializers.CharField()
    total = serializers.IntegerField()
    processed = serializers.IntegerField()
    scored = serializers.IntegerField()
    error = serializers.CharField()


class BackfillsApi(APIView):
    """Run an evaluator over past traces of a time range."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(
        summary="Start a backfill", request=BackfillInputSerializer, responses={202: BackfillOutputSerializer}
    )
    def post(self, request: Request, evaluator_id: int) -> Response:
        evaluator = evaluator_get(project=request.auth.project, evaluator_id=evaluator_id)
        if evaluator is None:
            return error_response("evaluator_id: no such evaluator", "not_found", 404, field="evaluator_id")
        payload = BackfillInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            backfill = backfill_start(evaluator=evaluator, **payload.validated_data)
        except ValidationError as exc:
            return validation_error_response(exc)
        return Response(BackfillOutputSerializer(backfill).data, status=status.HTTP_202_ACCEPTED)


class BackfillDetailApi(APIView):
    """Follow a backfill's progress."""

    @extend_schema(summary="Get a backfill", responses=BackfillOutputSerializer)
    def get(self, request: Request, backfill_id: int) -> Response:
        backfill: Backfill | None = backfill_get(project=request.auth.project, backfill_id=backfill_id)
        if backfill is None:
            return error_response("backfill_id: no such backfill", "not_found", 404, field="backfill_id")
        return Response(BackfillOutputSerializer(backfill).data)
