"""Judges API: pin an OpenAI-compatible judge (endpoint, exact model, key source)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import list_envelope, list_response, validation_error_response
from apps.judges.models import Judge
from apps.judges.selectors import judge_list
from apps.judges.services import judge_create
from apps.projects.authentication import CONFIGURATION_PERMISSIONS


class JudgeInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    base_url = serializers.URLField(max_length=300)
    model = serializers.CharField(max_length=200)
    api_key = serializers.CharField(required=False, allow_blank=True, default="", write_only=True)
    api_key_env = serializers.RegexField(r"^[A-Z_][A-Z0-9_]*$", required=False, allow_blank=True, default="")
    timeout_s = serializers.FloatField(required=False, default=30.0, min_value=0.1, max_value=600)
    input_price_per_mtok = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0)
    output_price_per_mtok = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0)


class JudgeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    base_url = serializers.CharField()
    model = serializers.CharField()
    api_key_env = serializers.CharField()
    has_stored_key = serializers.SerializerMethodField()
    timeout_s = serializers.FloatField()

    def get_has_stored_key(self, judge: Judge) -> bool:
        return bool(judge.api_key_encrypted)


class JudgesApi(APIView):
    """List or pin judges. A stored API key is encrypted and never returned."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(summary="List judges", responses=list_envelope(JudgeOutputSerializer))
    def get(self, request: Request) -> Response:
        judges = judge_list(project=request.auth.project)
        return list_response(JudgeOutputSerializer(judges, many=True).data)

    @extend_schema(summary="Pin a judge", request=JudgeInputSerializer, responses={201: JudgeOutputSerializer})
    def post(self, request: Request) -> Response:
        payload = JudgeInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            judge = judge_create(project=request.auth.project, **payload.validated_data)
        except ValidationError as exc:
            return validation_error_response(exc)
        return Response(JudgeOutputSerializer(judge).data, status=status.HTTP_201_CREATED)
