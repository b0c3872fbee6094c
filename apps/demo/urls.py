"""Demo pages, under the project's slug."""

from django.urls import path

from apps.demo import views

app_name = "demo"

urlpatterns = [
    path("p/<slug:project_slug>/demo/simulation/", views.simulation_toggle_view, name="simulation-toggle"),
]
