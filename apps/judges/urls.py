"""Judge pages, under the project's slug."""

from django.urls import path

from apps.judges import views

app_name = "judges"

urlpatterns = [
    path("p/<slug:project_slug>/judges/", views.judge_list_view, name="list"),
    path("p/<slug:project_slug>/judges/new/", views.judge_create_view, name="create"),
    path(
        "p/<slug:project_slug>/judges/previews/<int:preview_id>/",
        views.judge_preview_status_view,
        name="preview-status",
    ),
    path("p/<slug:project_slug>/judges/<int:judge_id>/", views.judge_detail_view, name="detail"),
    path("p/<slug:project_slug>/judges/<int:judge_id>/edit/", views.judge_edit_view, name="edit"),
    path("p/<slug:project_slug>/judges/<int:judge_id>/active/", views.judge_active_view, name="active"),
    path("p/<slug:project_slug>/judges/<int:judge_id>/test/", views.judge_test_view, name="test"),
    path("p/<slug:project_slug>/judges/<int:judge_id>/calibrate/", views.judge_calibrate_view, name="calibrate"),
    path(
        "p/<slug:project_slug>/judges/<int:judge_id>/calibrations/<int:run_id>/",
        views.judge_calibration_status_view,
        name="calibration-status",
    ),
    path(
        "p/<slug:project_slug>/judges/<int:judge_id>/versions/<int:number>/promote/",
        views.judge_promote_view,
        name="promote",
    ),
]
