"""Dataset pages, under the project's slug."""

from django.urls import path

from apps.datasets import views

app_name = "datasets"

urlpatterns = [
    path("p/<slug:project_slug>/datasets/", views.dataset_list_view, name="list"),
    path("p/<slug:project_slug>/datasets/new/", views.dataset_new_view, name="new"),
    path("p/<slug:project_slug>/datasets/<int:dataset_id>/", views.dataset_detail_view, name="detail"),
    path("p/<slug:project_slug>/datasets/<int:dataset_id>/export/", views.dataset_export_view, name="export"),
    path("p/<slug:project_slug>/datasets/add-trace/<str:trace_id>/", views.trace_add_view, name="trace-add"),
]
