from django.urls import path

from apps.scores.api.metrics import MetricsApi
from apps.scores.api.views import ScoresApi, TraceScoredDetailApi

urlpatterns = [
    path("scores", ScoresApi.as_view(), name="api-scores"),
    path("metrics", MetricsApi.as_view(), name="api-metrics"),
    path("traces/<str:trace_id>", TraceScoredDetailApi.as_view(), name="api-trace-detail"),
]
