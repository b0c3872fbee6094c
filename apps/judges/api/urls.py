from django.urls import path

from apps.judges.api.views import JudgesApi

urlpatterns = [path("judges", JudgesApi.as_view(), name="api-judges")]
