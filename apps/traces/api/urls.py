from django.urls import path

from apps.traces.api.views import TracesApi

# GET traces/<trace_id> (a trace with its spans and scores) is composed and routed by the scores app.
urlpatterns = [
    path("traces", TracesApi.as_view(), name="api-traces"),
]
