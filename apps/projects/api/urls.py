from django.urls import path

from apps.projects.api.views import ProjectCurrentApi

urlpatterns = [
    path("project", ProjectCurrentApi.as_view(), name="api-project-current"),
]
