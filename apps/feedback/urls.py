"""Feedback pages, under the project's slug."""

from django.urls import path

from apps.feedback import views

app_name = "feedback"

urlpatterns = [
    path("p/<slug:project_slug>/feedback/unlinked/", views.feedback_unlinked_view, name="unlinked"),
]
