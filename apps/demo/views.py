"""The demo banner's switch: stop or resume the simulated traffic of a project."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.demo.services import simulation_set_running
from apps.projects.access import project_view
from apps.projects.models import Membership, Project


@require_POST
@project_view(min_role=Membership.Role.ADMIN)
def simulation_toggle_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Stop (running=0) or resume (running=1) the simulator, then go back to the page the banner was on."""
    running = request.POST.get("running") == "1"
    simulation_set_running(project=project, running=running, by=request.user.get_username())
    messages.info(request, "Simulated traffic resumed." if running else "Simulated traffic stopped.")
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect("dashboards:overview", project_slug=project.slug)
