"""Writes for feedback: storing explicit and inferred signal, linking it to its trace, turning it into scores."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.core.queue import task_enqueue
from apps.feedback.inference.detectors import InferredSignal, LexicalScorer
from apps.feedback.inference.services import abandon_due_sessions, batch_sessions_infer, session_signals_infer
from apps.feedback.models import Feedback
from apps.projects.models import Project
from apps.scores.models import Score
from apps.scores.services import ScoreInput, external_scores_ingest, scores_upsert
from apps.traces.services import traces_feedback_mark

Kind = Feedback.Kind
Source = Feedback.Source

# Kinds a detector may infer; each becomes the score named here (1.0 = it happened).
INFERRED_KIND_SCORES = {Kind.REGENERATE: "regenerated", Kind.REPHRASE: "rephrased", Kind.ABANDON: "abandoned"}
SCORE_NAMES = ("thumbs_down", "rating", *INFERRED_KIND_SCORES.values())
# What a pending external score keeps of its validated body (apps/feedback/api/langfuse.py).
SCORE_FIELDS = ("name", "value", "label", "passed", "explanation", "span_id", "version", "source")

# Link unlinked rows to traces that exist now, in one statement: the partial index feedback_unlinked finds the
# waiting rows, the traces' unique (project_id, trace_id) index their trace. `{only}` narrows it per caller.
LINK_SQL = """
UPDATE feedback_feedback f SET trace_pk = t.id, updated_at = now()
FROM traces_trace t
WHERE f.project_id = %(project)s AND f.trace_pk IS NULL AND t.project_id = f.project_id AND t.trace_id = f.trace_id
  {only}
RETURNING t.id, f.kind
"""
LINK_ONLY = {
    "all": "",
    "trace_ids": "AND f.trace_id = ANY(%(tids)s::varchar[])",
    "trace_pks": "AND t.id = ANY(%(pks)s::bigint[])",
    "since": "AND f.created_at >= %(since)s",
}

INFERRED_INSERT_SQL = """
INSERT INTO feedback_feedback (project_id, trace_id, trace_pk, kind, source, value, text, comment, user_id, reason,
    occurred_at, created_at, updated_at)
VALUES (%(project)s, %(trace_id)s, %(trace_pk)s, %(kind)s, 'inferred', %(value)s, '', '', '', %(reason)s,
    %(occurred_at)s, now(), now())
ON CONFLICT (project_id, trace_id, kind) WHERE source = 'inferred' DO NOTHING
RETURNING id
"""


def _trace_locks(*, project_id: int, trace_ids: Sequence[str]) -> None:
    """Serialize explicit and inferred abandon on these traces until the transaction ends (sorted: no deadlock)."""
    with connection.cursor() as cursor:
        for trace_id in sorted(set(trace_ids)):
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"feedback:{project_id}:{trace_id}"]
            )


def feedback_create(*, project: Project, items: Sequence[dict[str, Any]]) -> int:
    """Store validated explicit feedback, link the items whose trace exists and write their scores; return rows stored.

    Each item: trace_id, kind, and optionally value, text, comment, user_id, timestamp. Items whose trace has not
    arrived are kept unlinked; the link sweep (and each ingest batch) links them when it comes.
    """
    if not items:
        return 0
    now = timezone.now()
    rows = [
        Feedback(
            project=project,
            trace_id=item["trace_id"].lower(),
            kind=item["kind"],
            source=Source.EXPLICIT,
            value=item.get("value"),
            text=item.get("text") or "",
            comment=item.get("comment") or "",
            user_id=item.get("user_id") or "",
            occurred_at=item.get("timestamp") or now,
        )
        for item in items
    ]
    abandoned = [r.trace_id for r in rows if r.kind == Kind.ABANDON]
    with transaction.atomic():
        if abandoned:
            # Where the app says the user abandoned, that wins over the detector's guess.
            _trace_locks(project_id=project.id, trace_ids=abandoned)
            Feedback.objects.filter(
                project=project, trace_id__in=abandoned, kind=Kind.ABANDON, source=Source.INFERRED
            ).delete()
        Feedback.objects.bulk_create(rows)
        feedback_link(project=project, trace_ids=[r.trace_id for r in rows])
    return len(rows)


def feedback_inferred_record(
    *,
    project_id: int,
    trace_pk: int,
    trace_id: str,
    kind: str,
    reason: str,
    occurred_at: datetime,
    value: float | None = None,
) -> bool:
    """Record one inferred signal on a stored trace, once; return True if it was new (the detectors' entry point).

    - `trace_pk`/`trace_id`: the trace whose answer the user reacted to (the earlier turn), row id and 32-hex id.
    - `kind`: `regenerate`, `rephrase` or `abandon` (ValueError otherwise).
    - `reason`: shown to people ("same input 14 s later"); at most 500 characters are kept.
    - `occurred_at`: when the signal happened (the later turn's start, or when the inactivity window closed).
    - `value`: optional number (e.g. a similarity); the score written is 1.0 whatever it is.

    Idempotent: one inferred row per (project, trace, kind) (constraint feedback_uniq_inferred), so re-running a
    detector over the same sessions returns False and changes nothing. An inferred `abandon` is not recorded when
    the app sent an explicit `abandon` for the trace (and an explicit one arriving later removes it). A new row
    sets the trace's has_feedback and writes its score (source `feedback`) in the same transaction.
    """
    if kind not in INFERRED_KIND_SCORES:
        raise ValueError(f"kind: an inferred signal is one of {', '.join(INFERRED_KIND_SCORES)}, not {kind!r}")
    trace_id = trace_id.lower()
    with transaction.atomic():
        if kind == Kind.ABANDON:
            _trace_locks(project_id=project_id, trace_ids=[trace_id])
            explicit = Feedback.objects.filter(
                project_id=project_id, trace_id=trace_id, kind=Kind.ABANDON, source=Source.EXPLICIT
            )
            if explicit.exists():
                return False
        params = {
            "project": project_id,
            "trace_id": trace_id,
            "trace_pk": trace_pk,
            "kind": kind,
            "value": value,
            "reason": reason[:500],
            "occurred_at": occurred_at,
        }
        with connection.cursor() as cursor:
            cursor.execute(INFERRED_INSERT_SQL, params)
            if cursor.fetchone() is None:
                return False
        _feedback_linked(project=Project.objects.get(id=project_id), trace_pks=[trace_pk])
    return True


def feedback_link(
    *,
    project: Project,
    trace_ids: Sequence[str] | None = None,
    trace_pks: Sequence[int] | None = None,
    since: datetime | None = None,
) -> int:
    """Link the project's unlinked feedback to traces that exist now (optionally only some); return rows linked.

    Linked traces get has_feedback and their feedback scores, in the same transaction.
    """
    params: dict[str, Any] = {"project": project.id}
    if trace_ids is not None:
        only, params["tids"] = LINK_ONLY["trace_ids"], sorted(set(trace_ids))
    elif trace_pks is not None:
        only, params["pks"] = LINK_ONLY["trace_pks"], sorted({int(pk) for pk in trace_pks})
    elif since is not None:
        only, params["since"] = LINK_ONLY["since"], since
    else:
        only = LINK_ONLY["all"]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(LINK_SQL.format(only=only), params)
            linked = cursor.fetchall()
        if linked:
            # A pending external score is not the user's feedback: it writes its score but sets no has_feedback.
            marked = sorted({pk for pk, kind in linked if kind != Kind.SCORE})
            _feedback_linked(project=project, trace_pks=sorted({pk for pk, _ in linked}), mark_pks=marked)
    return len(linked)


def feedback_link_batch(*, project_id: int, trace_pks: Sequence[int]) -> int:
    """Link waiting feedback to the traces of one ingest batch (an INGEST_BATCH_CONSUMERS entry, in the worker).

    A project with nothing waiting costs one EXISTS on the partial index feedback_unlinked.
    """
    if not trace_pks or not Feedback.objects.filter(project_id=project_id, trace_pk__isnull=True).exists():
        return 0
    return feedback_link(project=Project.objects.get(id=project_id), trace_pks=trace_pks)


def feedback_link_sweep(*, now: datetime | None = None) -> int:
    """Link feedback received within FEEDBACK_LINK_WINDOW_SECONDS whose trace has arrived, for every project.

    The safety net behind the ingest-batch link: traces created outside ingest batches (placeholder rows made for
    scores or evaluations), and feedback that raced its trace at post time. Runs every 15 s (beat).
    """
    since = (now or timezone.now()) - timedelta(seconds=settings.FEEDBACK_LINK_WINDOW_SECONDS)
    waiting = Feedback.objects.filter(trace_pk__isnull=True, created_at__gte=since)
    project_ids = list(waiting.values_list("project_id", flat=True).distinct())
    return sum(feedback_link(project=project, since=since) for project in Project.objects.filter(id__in=project_ids))


def _feedback_linked(*, project: Project, trace_pks: Sequence[int], mark_pks: Sequence[int] | None = None) -> None:
    """Mark the traces (or only mark_pks) as having feedback and rewrite their feedback scores."""
    marked = trace_pks if mark_pks is None else mark_pks
    if marked:
        traces_feedback_mark(project_id=project.id, trace_pks=marked)
    feedback_scores_write(project=project, trace_pks=trace_pks)


def feedback_external_scores_record(*, project: Project, items: Sequence[tuple[int, dict]]) -> list[int]:
    """Store validated external scores (Langfuse's); keep those whose trace has not arrived as pending feedback.

    Each item is (index, score) as external_scores_ingest takes it. A score for an unknown trace is stored as a
    `score` feedback row, unlinked: the ingest batch of its trace (or the link sweep) writes it then, and until
    then it is listed with the other unlinked feedback. Returns the indexes kept pending.
    """
    missing = external_scores_ingest(project=project, items=items)
    if not missing:
        return []
    pending = {index for index, _ in missing}
    now = timezone.now()
    rows = [
        Feedback(
            project=project,
            trace_id=data["trace_id"].lower(),
            kind=Kind.SCORE,
            source=Source.EXPLICIT,
            value=data["value"],
            comment=data["explanation"][:10_000],
            score={key: data[key] for key in SCORE_FIELDS if key in data},
            occurred_at=now,
        )
        for index, data in items
        if index in pending
    ]
    with transaction.atomic():
        Feedback.objects.bulk_create(rows)
        feedback_link(project=project, trace_ids=[r.trace_id for r in rows])  # the trace may have just come
    return sorted(pending)


def feedback_scores_write(*, project: Project, trace_pks: Sequence[int]) -> int:
    """Write the feedback scores of these traces from all their feedback rows (idempotent: same rows, same scores).

    thumbs_down: the latest thumb (1.0 down, passed false; 0.0 up, passed true); rating: the latest rating (1–5);
    regenerated, rephrased, abandoned: 1.0 (passed false) when any row, explicit or inferred, says so.
    """
    rows = Feedback.objects.filter(project=project, trace_pk__in=list(trace_pks)).order_by("occurred_at", "id")
    by_trace: dict[int, list[Feedback]] = {}
    for row in rows.only("trace_pk", "kind", "source", "value", "comment", "reason", "occurred_at", "score"):
        by_trace.setdefault(row.trace_pk, []).append(row)  # type: ignore[arg-type]
    items = [item for trace_pk, trace_rows in by_trace.items() for item in _trace_scores(trace_pk, trace_rows)]
    return scores_upsert(project=project, items=items)


def _trace_scores(trace_pk: int, rows: list[Feedback]) -> list[ScoreInput]:
    """The feedback scores of one trace from its rows in time order (later rows override earlier ones)."""
    scores: dict[str, ScoreInput] = {}
    for row in rows:
        explanation = row.comment or row.reason
        if row.kind in (Kind.THUMBS_UP, Kind.THUMBS_DOWN):
            down = row.kind == Kind.THUMBS_DOWN
            scores["thumbs_down"] = _score(trace_pk, "thumbs_down", 1.0 if down else 0.0, not down, explanation)
        elif row.kind == Kind.RATING and row.value is not None:
            scores["rating"] = _score(trace_pk, "rating", row.value, None, explanation)
        elif row.kind == Kind.SCORE and row.score:
            key = f"score:{row.score['name']}:{row.score.get('span_id', '')}"
            scores[key] = _external_score(trace_pk, row.score, row.occurred_at)
        elif row.kind in INFERRED_KIND_SCORES:
            name = INFERRED_KIND_SCORES[row.kind]
            # Explicit beats inferred for the explanation; otherwise the first row that said so.
            if name not in scores or row.source == Source.EXPLICIT:
                scores[name] = _score(trace_pk, name, 1.0, False, explanation)
    return list(scores.values())


def _external_score(trace_pk: int, data: dict[str, Any], given_at: datetime) -> ScoreInput:
    """The score a pending external score becomes once its trace is here (as if it had come after the trace).

    It keeps the time it was sent: a score of the same name sent to the trace after that is not overwritten.
    """
    return ScoreInput(
        trace_pk=trace_pk,
        span_id=(data.get("span_id") or "").lower(),
        name=data["name"],
        source=data.get("source") or Score.Source.EXTERNAL,
        value=data.get("value"),
        label=data.get("label") or "",
        passed=data.get("passed"),
        explanation=data.get("explanation") or "",
        evaluator_version=data.get("version") or "",
        given_at=given_at,
    )


def _score(trace_pk: int, name: str, value: float, passed: bool | None, explanation: str) -> ScoreInput:
    return ScoreInput(
        trace_pk=trace_pk, name=name, source=Score.Source.FEEDBACK, value=value, passed=passed, explanation=explanation
    )


def feedback_signals_record(*, project_id: int, signals: Iterable[InferredSignal]) -> int:
    """Record inferred signals, each once (feedback_inferred_record is idempotent); return how many were new."""
    return sum(
        feedback_inferred_record(
            project_id=project_id,
            trace_pk=s.trace_pk,
            trace_id=s.trace_id,
            kind=s.kind,
            reason=s.reason,
            occurred_at=s.occurred_at,
            value=s.value,
        )
        for s in signals
    )


def feedback_infer_batch(*, project_id: int, trace_pks: Sequence[int], now: datetime | None = None) -> int:
    """Infer and record the regenerations, rephrasings and abandonments the sessions of one ingest batch show."""
    sessions = batch_sessions_infer(project_id=project_id, trace_pks=trace_pks, now=now or timezone.now())
    return sum(feedback_signals_record(project_id=project_id, signals=signals) for signals in sessions.values())


def feedback_abandon_sweep(*, now: datetime | None = None) -> int:
    """Record abandonment for sessions whose inactivity window closed lately, for every project (beat, ~20 s).

    Only abandon is decided here (regenerate and rephrase were decided when their later turn was stored), so the
    lexical scorer is passed and no embeddings call is made.
    """
    now = now or timezone.now()
    recorded = 0
    for project_id in Project.objects.values_list("id", flat=True):
        for session_id in abandon_due_sessions(project_id=project_id, now=now):
            signals = session_signals_infer(
                project_id=project_id, session_id=session_id, now=now, scorer=LexicalScorer(), changed_since=now
            )
            abandoned = [s for s in signals if s.kind == Kind.ABANDON]
            recorded += feedback_signals_record(project_id=project_id, signals=abandoned)
    return recorded


def feedback_infer_batch_enqueue(*, project_id: int, trace_pks: Sequence[int]) -> bool:
    """Hand an ingest batch's traces to the inference job (an INGEST_BATCH_CONSUMERS entry).

    Inference may call the project's embeddings endpoint: it runs in its own job, so a slow endpoint never holds
    up the batch's evaluations.
    """
    from apps.feedback.tasks import feedback_infer_batch_task

    return bool(trace_pks) and task_enqueue(feedback_infer_batch_task, project_id, [int(pk) for pk in trace_pks])
