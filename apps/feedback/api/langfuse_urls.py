"""Langfuse-compatible API paths, under /api/public/."""

from django.urls import path

from apps.feedback.api.langfuse import LangfuseIngestionApi, LangfuseScoreCreateApi

urlpatterns = [
    path("scores", LangfuseScoreCreateApi.as_view(), name="langfuse-scores"),
    path("ingestion", LangfuseIngestionApi.as_view(), name="langfuse-ingestion"),
]
