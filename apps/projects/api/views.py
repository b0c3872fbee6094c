"""API: who the caller's key belongs to (lets clients verify a key before sending traces)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class ProjectCurrentApi(APIView):
    """Return the project and scope of the API key used."""

    class OutputSerializer(serializers.Serializer):
        project = serializers.CharField(help_text="the project's slug")
        name = serializers.CharField()
        key_prefix = serializers.CharField()
        scope = serializers.CharField()

    @extend_schema(responses=OutputSerializer, summary="Show the project of the API key")
    def get(self, request: Request) -> Response:
        key = request.auth
        data = {"project": key.project.slug, "name": key.project.name, "key_prefix": key.prefix, "scope": key.scope}
        return Response(self.OutputSerializer(data).data)
