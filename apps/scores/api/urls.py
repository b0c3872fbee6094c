from django.urls import path

from apps.scores.api.views import ScoresApi

urlpatterns = [path("scores", ScoresApi.as_view(), name="api-scores")]
