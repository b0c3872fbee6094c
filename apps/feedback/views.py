"""Feedback pages: the trace ids that feedback names but that never arrived."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.feedback.selectors import feedback_unlinked_count, feedback_unlinked_list
from apps.projects.access import project_view
from apps.projects.models import Project


@project_view()
def feedback_unlinked_view(request: HttpRequest, project: Project) -> HttpResponse:
    """List trace ids named by feedback with no trace after the grace period (kept, not dropped)."""
    context = {
        "project": project,
        "nav": "feedback",
        "unlinked": feedback_unlinked_list(project=project),
        "waiting": feedback_unlinked_count(project=project),
        "grace_minutes": settings.FEEDBACK_UNLINKED_GRACE_SECONDS // 60,
    }
    return render(request, "feedback/feedback_unlinked.html", context)
