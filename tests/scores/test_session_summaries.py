"""Session summaries: after a drain, each session's row equals a direct aggregation of its traces and scores,
whatever order traces, updates, scores and deletes came in, however often the drain runs; retention drops the rows
of sessions whose traces are gone."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.partitions import retention_cutoff
from apps.projects.selectors import project_retention_list
from apps.scores.models import Score, SessionDirty, SessionSummary
from apps.scores.services import ScoreInput, scores_upsert
from apps.scores.sessions import session_summaries_drain, session_summaries_expire
from apps.traces.models import TRACE_PARTITION_WINDOW, Trace
from apps.traces.session_selectors import SESSION_WINDOWS, session_list
from tests.traces.factories import simple_trace

pytestmark = pytest.mark.django_db

FIELDS = ("trace_count", "first_at", "last_at", "users", "error_count", "failing_score_count", "feedback_count")


def direct(project) -> dict[str, dict]:
    """Each session's figures computed straight from the rows, in Python (what the summary must equal)."""
    failing: dict[int, set[str]] = defaultdict(set)
    for trace_pk, name in Score.objects.filter(project=project, passed=False).values_list("trace_id", "name"):
        failing[trace_pk].add(name)
    out: dict[str, dict] = {}
    for t in Trace.objects.filter(project=project).exclude(session_id=""):
        end = t.ended_at or t.started_at
        row = out.setdefault(
            t.session_id,
            {"trace_count": 0, "first_at": t.started_at, "last_at": end, "users": set(), "error_count": 0,
             "failing_score_count": 0, "feedback_count": 0},
        )  # fmt: skip
        row["trace_count"] += 1
        row["first_at"] = min(row["first_at"], t.started_at)
        row["last_at"] = max(row["last_at"], end)
        if t.user_id:
            row["users"].add(t.user_id)
        row["error_count"] += t.status == "error"
        row["feedback_count"] += t.has_feedback
        row["failing_score_count"] += len(failing[t.pk])
    for row in out.values():
        row["users"] = sorted(row["users"])
    return out


def summaries(project) -> dict[str, dict]:
    rows = SessionSummary.objects.filter(project_id=project.id).values("session_id", *FIELDS)
    return {row.pop("session_id"): row for row in rows}


def test_summary_counts_traces_users_errors_failing_scores_and_feedback(project):
    now = timezone.now()
    a1 = simple_trace(project, at=now - timedelta(minutes=30), session_id="s-a", user_id="ann")
    a2 = simple_trace(project, at=now - timedelta(minutes=20), session_id="s-a", user_id="bob", status="error")
    simple_trace(project, at=now - timedelta(minutes=10), session_id="s-b", user_id="ann")
    simple_trace(project, at=now - timedelta(minutes=5), user_id="ann")  # no session: no summary
    Trace.objects.filter(pk=a1.pk).update(has_feedback=True)
    scores_upsert(
        project=project,
        items=[
            ScoreInput(trace_pk=a2.pk, name="helpfulness", source="judge", passed=False, value=0.1),
            ScoreInput(trace_pk=a2.pk, name="refusal", source="programmatic", passed=False, value=1),
            ScoreInput(trace_pk=a1.pk, name="refusal", source="programmatic", passed=True, value=0),
        ],
    )
    assert session_summaries_drain() == 2
    got = summaries(project)
    assert set(got) == {"s-a", "s-b"}
    assert got["s-a"]["trace_count"] == 2 and got["s-a"]["users"] == ["ann", "bob"]
    assert got["s-a"]["error_count"] == 1 and got["s-a"]["failing_score_count"] == 2
    assert got["s-a"]["feedback_count"] == 1 and got["s-a"]["first_at"] == a1.started_at
    assert got["s-a"]["last_at"] == a2.ended_at
    assert got == direct(project)
    assert not SessionDirty.objects.exists()


def test_a_rerun_or_a_duplicate_mark_recomputes_the_same_rows(project):
    now = timezone.now()
    for i in range(3):
        simple_trace(project, at=now - timedelta(minutes=i), session_id="s", user_id=f"u{i}")
    session_summaries_drain()
    before = summaries(project)
    assert session_summaries_drain() == 0  # nothing dirty: nothing done
    SessionDirty.objects.bulk_create([SessionDirty(project_id=project.id, session_id="s")] * 3)
    assert session_summaries_drain() == 1  # duplicates of one key: one recompute
    assert summaries(project) == before == direct(project)


def test_a_late_trace_moves_first_time_and_a_score_change_moves_failing(project):
    now = timezone.now()
    simple_trace(project, at=now - timedelta(minutes=5), session_id="s", user_id="ann")
    session_summaries_drain()
    late = simple_trace(project, at=now - timedelta(hours=5), session_id="s", user_id="ann")
    scores_upsert(project=project, items=[ScoreInput(trace_pk=late.pk, name="tone", source="judge", passed=False)])
    session_summaries_drain()
    got = summaries(project)["s"]
    assert got["first_at"] == late.started_at and got["trace_count"] == 2 and got["failing_score_count"] == 1
    scores_upsert(project=project, items=[ScoreInput(trace_pk=late.pk, name="tone", source="judge", passed=True)])
    session_summaries_drain()
    assert summaries(project)["s"]["failing_score_count"] == 0
    assert summaries(project) == direct(project)


def test_a_session_spanning_partitions_and_one_moved_away(project):
    now = timezone.now()
    traces = [simple_trace(project, at=now - timedelta(days=d), session_id="long", user_id="ann") for d in (0, 3, 9)]
    session_summaries_drain()
    assert summaries(project)["long"]["trace_count"] == 3
    assert summaries(project)["long"]["first_at"] == traces[2].started_at
    # A trace that changes session dirties its old one and its new one.
    Trace.objects.filter(pk=traces[2].pk).update(session_id="other")
    session_summaries_drain()
    assert summaries(project) == direct(project)
    assert summaries(project)["long"]["trace_count"] == 2 and summaries(project)["other"]["trace_count"] == 1
    # A session with no trace left loses its row.
    Trace.objects.filter(pk=traces[2].pk).delete()
    session_summaries_drain()
    assert "other" not in summaries(project)


def test_an_update_of_a_column_the_summary_does_not_read_marks_nothing(project):
    trace = simple_trace(project, at=timezone.now(), session_id="s")
    session_summaries_drain()
    Trace.objects.filter(pk=trace.pk).update(name="renamed")
    assert not SessionDirty.objects.exists()


def test_the_sessions_list_reads_the_summaries(project):
    now = timezone.now()
    simple_trace(project, at=now - timedelta(days=2), session_id="old-start", user_id="ann")
    simple_trace(project, at=now - timedelta(minutes=1), session_id="old-start", user_id="ann", status="error")
    simple_trace(project, at=now - timedelta(days=3), session_id="quiet", user_id="bob")
    assert session_list(project=project, window=SESSION_WINDOWS["24h"])[0] == []  # not drained yet
    session_summaries_drain()
    rows, _ = session_list(project=project, window=SESSION_WINDOWS["24h"])
    # Listed by last activity in the window; the figures cover the whole session.
    assert [(r.session_id, r.trace_count, r.error_count) for r in rows] == [("old-start", 2, 1)]
    assert [r.session_id for r in session_list(project=project, window=SESSION_WINDOWS["7d"], user_id="bob")[0]] == [
        "quiet"
    ]


def test_retention_drops_sessions_whose_traces_are_gone_and_recomputes_straddling_ones(project):
    cutoff = retention_cutoff(days=project_retention_list()[project.id].traces_days)
    gone = simple_trace(project, at=cutoff - TRACE_PARTITION_WINDOW - timedelta(hours=2), session_id="gone")
    straddling_old = simple_trace(project, at=cutoff - timedelta(hours=2), session_id="straddling")
    simple_trace(project, at=cutoff + timedelta(hours=2), session_id="straddling")
    simple_trace(project, at=timezone.now(), session_id="recent")
    session_summaries_drain()
    # What dropping a partition does: the rows go and no trigger fires.
    Trace.objects.filter(pk__in=[gone.pk, straddling_old.pk]).delete()
    SessionDirty.objects.all().delete()
    result = session_summaries_expire()
    assert result["scores_sessionsummary"].deleted == 1
    session_summaries_drain()
    assert set(summaries(project)) == {"straddling", "recent"}
    assert summaries(project) == direct(project)


ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("trace"),
            st.sampled_from(["s1", "s2", "s3", ""]),
            st.sampled_from(["", "ann", "bob"]),
            st.integers(0, 60 * 24 * 12),  # minutes back: up to 12 days, across day partitions
            st.booleans(),  # error
        ),
        st.tuples(st.just("feedback"), st.integers(0, 20)),
        st.tuples(st.just("score"), st.integers(0, 20), st.sampled_from(["a", "b"]), st.booleans()),
        st.tuples(st.just("move"), st.integers(0, 20), st.sampled_from(["s1", "s2", "s4"])),
        st.tuples(st.just("delete"), st.integers(0, 20)),
        st.tuples(
            st.just("drain"),
        ),
    ),
    max_size=12,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(steps=ops)
def test_summaries_equal_a_direct_aggregation_after_any_history(project, steps):
    now = timezone.now()
    traces: list[Trace] = list(Trace.objects.filter(project=project))
    for step in steps:
        kind = step[0]
        if kind == "trace":
            _, session, user, back, error = step
            fields = {"status": "error"} if error else {}
            traces.append(
                simple_trace(project, at=now - timedelta(minutes=back), session_id=session, user_id=user, **fields)
            )
        elif kind == "drain":
            session_summaries_drain(limit=2)  # small batches: several transactions per run
        elif traces:
            trace = traces[step[1] % len(traces)]
            if kind == "feedback":
                Trace.objects.filter(pk=trace.pk).update(has_feedback=True)
            elif kind == "score":
                scores_upsert(
                    project=project, items=[ScoreInput(trace_pk=trace.pk, name=step[2], source="judge", passed=step[3])]
                )
            elif kind == "move":
                Trace.objects.filter(pk=trace.pk).update(session_id=step[2])
            elif kind == "delete":
                with connection.cursor() as cursor:  # its scores first, as retention does
                    cursor.execute("DELETE FROM scores_score WHERE trace_id = %s", [trace.pk])
                Trace.objects.filter(pk=trace.pk).delete()
                traces.remove(trace)
    session_summaries_drain()
    assert summaries(project) == direct(project)


def test_the_beat_schedule_drains_every_15_s_and_retention_runs_the_expiry():
    from django.conf import settings as django_settings

    from apps.scores.tasks import session_summaries_drain_task
    from config.celery import app as celery_app

    entry = celery_app.conf.beat_schedule["session-summaries-drain"]
    assert entry["task"] == session_summaries_drain_task.name == "scores.session_summaries_drain"
    assert entry["schedule"].total_seconds() == 15
    assert django_settings.RETENTION_EXPIRERS[-1] == "apps.scores.sessions.session_summaries_expire"


@pytest.mark.django_db(transaction=True)
def test_the_drain_task_on_a_real_worker_summarises_ingested_sessions(project, celery_worker):
    from config.celery import app as celery_app
    from tests.scores.test_rollup_tasks import wait_for

    now = timezone.now()
    for i in range(3):
        simple_trace(project, at=now - timedelta(minutes=i), session_id="live", user_id="ann")
    celery_app.send_task("scores.session_summaries_drain")  # what beat sends every 15 s
    assert wait_for(lambda: summaries(project).get("live", {}).get("trace_count") == 3)
    # The default evaluators' scores on the worker dirty the session again; drained, it equals the rows.
    celery_app.send_task("scores.session_summaries_drain")
    assert wait_for(lambda: not SessionDirty.objects.exists() and summaries(project) == direct(project))


def test_a_rebuild_equals_the_drain_and_clears_the_project_dirty_keys(project):
    from apps.scores.sessions import session_summaries_rebuild

    now = timezone.now()
    for i in range(4):
        simple_trace(project, at=now - timedelta(hours=i * 7), session_id=f"s{i % 2}", user_id=f"u{i}")
    session_summaries_rebuild(project_id=project.id)
    assert not SessionDirty.objects.filter(project_id=project.id).exists()
    assert summaries(project) == direct(project) and len(summaries(project)) == 2
