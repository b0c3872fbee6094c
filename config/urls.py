"""URL map: UI pages, the API under /api/v1/, OTLP at /v1/, health probes."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.core.views import healthz_view, readyz_view
from apps.projects.views import home_view
from apps.traces.api.otlp_logs import otlp_logs_view
from apps.traces.api.otlp_views import otlp_langfuse_traces_view, otlp_traces_view

urlpatterns = [
    path("", home_view, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Browsers ask for /favicon.ico whatever the page links; send them to the static SVG.
    path("favicon.ico", RedirectView.as_view(url=static("sightline/favicon.svg"), permanent=False)),
    path("healthz", healthz_view, name="healthz"),
    path("readyz", readyz_view, name="readyz"),
    path("admin/", admin.site.urls),
    # OTLP/HTTP at the spec's default paths, so exporters only need the base URL.
    path("v1/traces", otlp_traces_view, name="otlp-traces"),
    path("v1/logs", otlp_logs_view, name="otlp-logs"),
    # Langfuse SDK compatibility: its OTLP exporter's path (HTTP Basic auth) and its score endpoints.
    path("api/public/otel/v1/traces", otlp_langfuse_traces_view, name="otlp-langfuse-traces"),
    path("api/public/", include("apps.feedback.api.langfuse_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its init script from a URL: the CSP allows no inline scripts.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("apps.projects.api.urls")),
    path("api/v1/", include("apps.traces.api.urls")),
    path("api/v1/", include("apps.scores.api.urls")),
    path("api/v1/", include("apps.feedback.api.urls")),
    path("api/v1/", include("apps.review.api.urls")),
    path("api/v1/", include("apps.judges.api.urls")),
    path("api/v1/", include("apps.evaluators.api.urls")),
    path("api/v1/", include("apps.datasets.api.urls")),
    path("api/v1/", include("apps.slis.api.urls")),
    path("", include("apps.traces.urls")),
    path("", include("apps.feedback.urls")),
    path("", include("apps.review.urls")),
    path("", include("apps.evaluators.urls")),
    path("", include("apps.judges.urls")),
    path("", include("apps.datasets.urls")),
    path("", include("apps.slis.urls")),
    path("", include("apps.projects.urls")),
    path("", include("apps.dashboards.urls")),
    path("", include("apps.demo.urls")),
]
