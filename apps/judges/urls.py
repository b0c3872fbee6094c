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
]
