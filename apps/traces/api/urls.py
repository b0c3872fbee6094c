from django.urls import path

from apps.traces.api.views import TraceDetailApi, TracesApi

urlpatterns = [
    path("traces", TracesApi.as_view(), name="api-traces"),
    path("traces/<str:trace_id>", TraceDetailApi.as_view(), name="api-trace-detail"),
]
