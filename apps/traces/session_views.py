"""Session and user pages: the sessions list, one session as a conversation timeline, and a user's sessions."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from apps.projects.access import project_view
from apps.projects.models import Project
from apps.traces.selectors import FilterError
from apps.traces.session_selectors import (
    SESSION_TURN_LIMIT,
    SESSION_WINDOWS,
    page_parse,
    session_list,
    session_timeline,
    session_window_parse,
    user_summary,
)

SESSION_LIST_TEMPLATE = "traces/session_list.html"
SESSION_DETAIL_TEMPLATE = "traces/session_detail.html"
USER_DETAIL_TEMPLATE = "traces/user_detail.html"


def _sessions_context(request: HttpRequest, project: Project, user_id: str = "") -> tuple[dict[str, object], int]:
    """Parse window and page, and read one page of sessions (a bad value becomes a message and a 400)."""
    context: dict[str, object] = {
        "project": project,
        "nav": "sessions",
        "windows": list(SESSION_WINDOWS),
        "window": request.GET.get("window", "") or next(iter(SESSION_WINDOWS)),
        "sessions": [],
    }
    try:
        window_name, window = session_window_parse(request.GET.get("window"))
        page = page_parse(request.GET.get("page"))
    except FilterError as exc:
        context["filter_error"] = exc
        return context, 400
    sessions, has_next = session_list(project=project, window=window, user_id=user_id, page=page)
    context.update(window=window_name, window_length=window, page=page, sessions=sessions, has_next=has_next)
    return context, 200


@project_view()
def session_list_view(request: HttpRequest, project: Project) -> HttpResponse:
    """List the project's sessions active in the window, most recent first, 50 a page."""
    context, status = _sessions_context(request, project)
    return render(request, SESSION_LIST_TEMPLATE, context, status=status)


@project_view()
def session_detail_view(request: HttpRequest, project: Project, session_id: str) -> HttpResponse:
    """Show one session as a single conversation: each turn's message and answer, linked to its trace, with scores."""
    turns = session_timeline(project=project, session_id=session_id)
    if not turns:
        raise Http404("No such session in this project.")
    users = sorted({t.trace.user_id for t in turns if t.trace is not None and t.trace.user_id})
    context = {
        "project": project,
        "nav": "sessions",
        "session_id": session_id,
        "turns": turns,
        "users": users,
        "turn_limit": SESSION_TURN_LIMIT,
        "failing_count": sum(len(t.failing_scores) for t in turns),
    }
    return render(request, SESSION_DETAIL_TEMPLATE, context)


@project_view()
def user_detail_view(request: HttpRequest, project: Project, user_id: str) -> HttpResponse:
    """Show one end user: their traces, sessions and failure rate in the window, and their sessions."""
    context, status = _sessions_context(request, project, user_id=user_id)
    context["user_id"] = user_id
    if status == 200:
        window = context["window_length"]
        context["summary"] = user_summary(project=project, user_id=user_id, window=window)  # type: ignore[arg-type]
    return render(request, USER_DETAIL_TEMPLATE, context, status=status)
