"""SLI and alerting pages, under the project's slug."""

from django.urls import path

from apps.slis import views

app_name = "slis"

urlpatterns = [
    path("p/<slug:project_slug>/slis/", views.sli_list_view, name="list"),
    path("p/<slug:project_slug>/slis/new/", views.sli_create_view, name="create"),
    path("p/<slug:project_slug>/slis/<int:sli_id>/", views.sli_detail_view, name="detail"),
    path("p/<slug:project_slug>/slis/<int:sli_id>/rules/new/", views.rule_create_view, name="rule-create"),
    path("p/<slug:project_slug>/slis/<int:sli_id>/rules/preview/", views.rule_preview_view, name="rule-preview"),
    path("p/<slug:project_slug>/alert-rules/<int:rule_id>/", views.rule_detail_view, name="rule"),
    path("p/<slug:project_slug>/alert-rules/<int:rule_id>/mute/", views.rule_mute_view, name="rule-mute"),
    path("p/<slug:project_slug>/alerts/", views.alert_list_view, name="alerts"),
    path("p/<slug:project_slug>/alerts/<int:alert_id>/", views.alert_detail_view, name="alert"),
    path("p/<slug:project_slug>/alerts/<int:alert_id>/ack/", views.alert_ack_view, name="alert-ack"),
    path("p/<slug:project_slug>/alerts/<int:alert_id>/silence/", views.alert_silence_view, name="alert-silence"),
    path("p/<slug:project_slug>/channels/", views.channel_list_view, name="channels"),
    path("p/<slug:project_slug>/channels/<int:channel_id>/test/", views.channel_test_view, name="channel-test"),
]
