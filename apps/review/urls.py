"""Review pages, under the project's slug."""

from django.urls import path

from apps.review import views

app_name = "review"

urlpatterns = [
    path("p/<slug:project_slug>/review/", views.review_queue_view, name="queue"),
    path("p/<slug:project_slug>/review/next/", views.review_next_view, name="next"),
    path("p/<slug:project_slug>/review/items/<int:item_id>/label/", views.review_label_view, name="label"),
    path("p/<slug:project_slug>/review/items/<int:item_id>/skip/", views.review_skip_view, name="skip"),
    path("p/<slug:project_slug>/review/overview/", views.review_overview_view, name="overview"),
    path("p/<slug:project_slug>/review/rules/", views.review_rules_view, name="rules"),
    path("p/<slug:project_slug>/review/rules/new/", views.routing_rule_create_view, name="rule-create"),
    path("p/<slug:project_slug>/review/rules/<int:rule_id>/", views.routing_rule_edit_view, name="rule-edit"),
    path("p/<slug:project_slug>/review/settings/", views.review_queue_settings_view, name="queue-settings"),
    path("p/<slug:project_slug>/review/annotate/<str:trace_id>/", views.trace_annotate_view, name="annotate"),
]
