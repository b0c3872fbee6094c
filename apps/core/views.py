"""Health endpoints for load balancers and orchestrators."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.health import dependencies_check
from apps.core.partitions import partitions_gaps_reported


@never_cache
@require_GET
def healthz_view(request: HttpRequest) -> JsonResponse:
    """Answer 200 while the process is up; touches nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz_view(request: HttpRequest) -> JsonResponse:
    """Answer 200 when the database and the broker answer, else 503 naming what is down."""
    checks = dependencies_check()
    down = [name for name, problem in checks.items() if problem]
    body = {"status": "ok" if not down else "unavailable", "checks": {k: v or "ok" for k, v in checks.items()}}
    if down:
        body["error"] = f"not ready: {', '.join(down)} unavailable"
    # Not a reason to refuse traffic (rows of a day without a partition go to DEFAULT), but worth seeing.
    gaps = partitions_gaps_reported()
    if gaps:
        body["warnings"] = {"partitions": gaps}
    return JsonResponse(body, status=503 if down else 200)
