from django.urls import path

from apps.feedback.api.views import FeedbackApi, TraceFeedbackDetailApi

urlpatterns = [
    path("feedback", FeedbackApi.as_view(), name="api-feedback"),
    path("traces/<str:trace_id>", TraceFeedbackDetailApi.as_view(), name="api-trace-detail"),
]
