"""The real URLs plus one view that fails, to see the 500 page as a user would (DEBUG off)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import urlpatterns as real_urlpatterns


def boom_view(request: HttpRequest) -> HttpResponse:
    """Fail the way an unexpected bug does."""
    raise RuntimeError("boom")


urlpatterns = [path("boom/", boom_view), *real_urlpatterns]
