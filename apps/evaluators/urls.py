"""Evaluator pages, under the project's slug."""

from django.urls import path

from apps.evaluators import views

app_name = "evaluators"

urlpatterns = [
    path("p/<slug:project_slug>/evaluators/", views.evaluator_list_view, name="list"),
    path("p/<slug:project_slug>/evaluators/new/", views.evaluator_create_view, name="create"),
    path("p/<slug:project_slug>/evaluators/kind/", views.evaluator_kind_view, name="kind"),
    path("p/<slug:project_slug>/evaluators/preview/", views.evaluator_preview_view, name="preview"),
    path("p/<slug:project_slug>/evaluators/<int:evaluator_id>/", views.evaluator_edit_view, name="edit"),
    path(
        "p/<slug:project_slug>/evaluators/<int:evaluator_id>/backfills/",
        views.backfill_start_view,
        name="backfill-start",
    ),
    path(
        "p/<slug:project_slug>/evaluators/<int:evaluator_id>/rescore/",
        views.evaluator_rescore_view,
        name="rescore",
    ),
    path(
        "p/<slug:project_slug>/evaluators/rescores/<int:backfill_id>/",
        views.evaluator_rescore_status_view,
        name="rescore-status",
    ),
    path("p/<slug:project_slug>/dead-letters/", views.dead_letter_list_view, name="dead-letters"),
    path(
        "p/<slug:project_slug>/dead-letters/<slug:kind>/<int:row_id>/",
        views.dead_letter_action_view,
        name="dead-letter-action",
    ),
    path(
        "p/<slug:project_slug>/evaluators/backfills/<int:backfill_id>/",
        views.backfill_status_view,
        name="backfill-status",
    ),
]
