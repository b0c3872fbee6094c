from django.urls import path

from apps.scores.api.metrics import MetricsApi
from apps.scores.api.views import ScoresApi

# GET traces/<id> (TraceScoredDetailApi) is routed by the feedback app, which adds the trace's feedback to it.
urlpatterns = [
    path("scores", ScoresApi.as_view(), name="api-scores"),
    path("metrics", MetricsApi.as_view(), name="api-metrics"),
]
