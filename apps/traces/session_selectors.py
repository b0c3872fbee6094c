"""Reads for sessions and users: the sessions list, one session as a timeline of turns, and a user's figures.

The sessions list reads the per-session summaries the scores app keeps (through score_reads()); the other reads
are bounded by a time window on started_at (which also bounds partition_at, so partitions prune) and by the
(project, session_id) / (project, user_id) indexes; lists are paged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.projects.models import Project
from apps.traces.models import TRACE_PARTITION_WINDOW, Trace
from apps.traces.selectors import FilterError, Turn, score_reads, session_turn_list

# The windows a sessions list or user page can look back over; the default is the first.
SESSION_WINDOWS = {"7d": timedelta(days=7), "24h": timedelta(hours=24), "30d": timedelta(days=30)}
SESSION_PAGE_SIZE = 50
# Failing scores are counted over at most this many traces of a page (newest first): one bounded score query.
FAILURE_TRACE_CAP = 5000
SESSION_TURN_LIMIT = 200
USERS_SHOWN = 3


@dataclass
class SessionRow:
    """One session in the list: its traces, time span, users, errors and signals (over all its stored traces)."""

    session_id: str
    trace_count: int
    first_at: datetime
    last_at: datetime
    users: list[str]
    feedback_count: int
    failing_score_count: int = 0
    error_count: int = 0  # traces with status error

    @property
    def users_shown(self) -> list[str]:
        return self.users[:USERS_SHOWN]

    @property
    def users_more(self) -> int:
        return max(0, len(self.users) - USERS_SHOWN)


@dataclass
class SessionTurn:
    """One turn of a session's timeline: the user's message, the trace's answer, its status and scores."""

    turn: Turn
    trace: Trace | None
    scores: list[Any] = field(default_factory=list)

    @property
    def failing_scores(self) -> list[Any]:
        return [score for score in self.scores if score.passed is False]


@dataclass
class UserSummary:
    """A user's figures within the window: traces, sessions, and the share of traces with a failing score."""

    user_id: str
    trace_count: int
    session_count: int
    failing_trace_count: int
    counted_trace_count: int  # traces the failure rate is over (the newest FAILURE_TRACE_CAP)

    @property
    def failure_rate(self) -> float | None:
        return self.failing_trace_count / self.counted_trace_count if self.counted_trace_count else None


def session_window_parse(raw: str | None) -> tuple[str, timedelta]:
    """Return the window's name and length; raise FilterError naming `window` for an unknown one."""
    name = (raw or "").strip() or next(iter(SESSION_WINDOWS))
    if name not in SESSION_WINDOWS:
        raise FilterError("window", f"use one of {', '.join(SESSION_WINDOWS)}; got {name!r}")
    return name, SESSION_WINDOWS[name]


def page_parse(raw: str | None) -> int:
    """Return a 1-based page number; raise FilterError naming `page` when it is not one."""
    if not raw:
        return 1
    try:
        page = int(raw)
    except ValueError:
        raise FilterError("page", "must be a whole number") from None
    if not 1 <= page <= 10_000:
        raise FilterError("page", "must be between 1 and 10000")
    return page


def _window_traces(*, project: Project, since: datetime) -> QuerySet[Trace]:
    return Trace.objects.filter(
        project=project, started_at__gte=since, partition_at__gte=since - TRACE_PARTITION_WINDOW
    )


def session_list(
    *, project: Project, window: timedelta, user_id: str = "", page: int = 1, page_size: int = SESSION_PAGE_SIZE
) -> tuple[list[SessionRow], bool]:
    """Return one page of the project's sessions whose last activity is in the window, most recent first, and
    whether a next page exists; with user_id, the sessions that user took part in.

    Rows come from the session summaries the scores app keeps (one indexed range read, however many traces the
    window holds): each counts all of the session's traces, its users, errors, traces with feedback and failing
    scores, within ~15 s of the traces and scores landing (apps/scores/sessions.py).
    """
    since = timezone.now() - window
    offset = (page - 1) * page_size
    rows = score_reads().session_summary_page(
        project_id=project.id, since=since, user_id=user_id, offset=offset, limit=page_size + 1
    )
    return [SessionRow(**row) for row in rows[:page_size]], len(rows) > page_size


def session_timeline(*, project: Project, session_id: str, limit: int = SESSION_TURN_LIMIT) -> list[SessionTurn]:
    """Return the session's newest `limit` turns in start order, each with its trace (answer, status) and scores."""
    turns = session_turn_list(project_id=project.id, session_id=session_id, limit=limit)
    if not turns:
        return []
    pks = [turn.trace_pk for turn in turns]
    traces = {
        trace.id: trace
        for trace in Trace.objects.filter(project=project, id__in=pks).only(
            "id", "trace_id", "name", "output_text", "status", "latency_ms", "user_id", "model", "started_at"
        )
    }
    reads = score_reads()
    scores = reads.trace_scores_map(project_id=project.id, trace_pks=pks)
    # Each score with what its declaration says, so a badge reads "refusal 1 = refused (fail)" on hover.
    reads.scores_describe(project=project, scores=[score for rows in scores.values() for score in rows])
    return [SessionTurn(turn=t, trace=traces.get(t.trace_pk), scores=scores.get(t.trace_pk, [])) for t in turns]


def user_summary(*, project: Project, user_id: str, window: timedelta) -> UserSummary:
    """Return the user's traces, sessions and failure rate (traces with a failing score) within the window."""
    traces = _window_traces(project=project, since=timezone.now() - window).filter(user_id=user_id)
    totals = traces.aggregate(
        trace_count=Count("id"), session_count=Count("session_id", distinct=True, filter=~Q(session_id=""))
    )
    pks = list(traces.order_by("-started_at").values_list("id", flat=True)[:FAILURE_TRACE_CAP])
    failed = score_reads().failed_score_names(trace_pks=pks, project_id=project.id)
    return UserSummary(
        user_id=user_id,
        trace_count=totals["trace_count"],
        session_count=totals["session_count"],
        failing_trace_count=sum(1 for pk in pks if failed.get(pk)),
        counted_trace_count=len(pks),
    )
