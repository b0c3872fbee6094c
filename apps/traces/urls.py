"""Trace browser URLs, under the project's slug."""

from django.urls import path

from apps.traces import session_views, views

app_name = "traces"

urlpatterns = [
    path("p/<slug:project_slug>/traces/", views.trace_list_view, name="list"),
    path("p/<slug:project_slug>/settings/prices/", views.model_prices_view, name="prices"),
    path(
        "p/<slug:project_slug>/settings/prices/<int:model_price_id>/delete/",
        views.model_price_delete_view,
        name="price-delete",
    ),
    path("p/<slug:project_slug>/sessions/", session_views.session_list_view, name="sessions"),
    path("p/<slug:project_slug>/sessions/<path:session_id>/", session_views.session_detail_view, name="session"),
    path("p/<slug:project_slug>/users/<path:user_id>/", session_views.user_detail_view, name="user"),
    path("p/<slug:project_slug>/traces/start/", views.trace_onboarding_view, name="onboarding"),
    path("p/<slug:project_slug>/traces/start/key/", views.trace_onboarding_key_view, name="onboarding-key"),
    path("p/<slug:project_slug>/traces/start/status/", views.trace_onboarding_status_view, name="onboarding-status"),
    path("p/<slug:project_slug>/traces/score-options/", views.trace_score_options_view, name="score-options"),
    path("p/<slug:project_slug>/traces/<str:trace_id>/", views.trace_detail_view, name="detail"),
    path("p/<slug:project_slug>/traces/<str:trace_id>/spans/<str:span_id>/", views.trace_span_view, name="span"),
    path(
        "p/<slug:project_slug>/traces/<str:trace_id>/spans/<str:span_id>/json/",
        views.trace_span_json_view,
        name="span-json",
    ),
]
