"""Dashboard URLs: the overview is the project's home (/p/<slug>/); the explorer and panel fragments beside it."""

from django.urls import path

from apps.dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("p/<slug:project_slug>/", views.overview_view, name="overview"),
    path("p/<slug:project_slug>/metrics/", views.explorer_view, name="explorer"),
    path("p/<slug:project_slug>/divergence/", views.divergence_view, name="divergence"),
    path("p/<slug:project_slug>/panels/<slug:kind>/", views.panel_view, name="panel"),
]
