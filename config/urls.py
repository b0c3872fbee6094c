"""URL map: UI pages, the API under /api/v1/, OTLP at /v1/, health probes."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.core.views import healthz_view, readyz_view
from apps.projects.views import home_view
from apps.traces.api.otlp_logs import otlp_logs_view
from apps.traces.api.otlp_views import otlp_traces_view

urlpatterns = [
    path("", home_view, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", healthz_view, name="healthz"),
    path("readyz", readyz_view, name="readyz"),
    path("admin/", admin.site.urls),
    # OTLP/HTTP at the spec's default paths, so exporters only need the base URL.
    path("v1/traces", otlp_traces_view, name="otlp-traces"),
    path("v1/logs", otlp_logs_view, name="otlp-logs"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its init script from a URL: the CSP allows no inline scripts.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("apps.projects.api.urls")),
    path("api/v1/", include("apps.traces.api.urls")),
    path("api/v1/", include("apps.scores.api.urls")),
    path("api/v1/", include("apps.judges.api.urls")),
    path("api/v1/", include("apps.evaluators.api.urls")),
    path("", include("apps.traces.urls")),
    path("", include("apps.evaluators.urls")),
    path("", include("apps.judges.urls")),
    path("", include("apps.projects.urls")),
    path("", include("apps.dashboards.urls")),
]
