"""The entry point: a session's inferred signals, read from its stored turns (no writes)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings

from apps.feedback.inference.detectors import (
    InferredSignal,
    LexicalScorer,
    RephraseScorer,
    Windows,
    abandon_detect,
    regenerate_detect,
    rephrase_detect,
)
from apps.feedback.inference.embeddings import EmbeddingScorer, embedder_for_project
from apps.traces.selectors import session_idle_list, session_turn_list, trace_session_starts

logger = logging.getLogger(__name__)

# Turns older than this are not re-read: every signal is final well before (the longest window is abandon's).
LOOKBACK = timedelta(days=1)


def inference_windows() -> Windows:
    """Return the detectors' windows from settings (FEEDBACK_*_WINDOW_SECONDS)."""
    return Windows(
        regenerate=timedelta(seconds=settings.FEEDBACK_REGENERATE_WINDOW_SECONDS),
        rephrase=timedelta(seconds=settings.FEEDBACK_REPHRASE_WINDOW_SECONDS),
        abandon=timedelta(seconds=settings.FEEDBACK_ABANDON_WINDOW_SECONDS),
    )


def session_signals_infer(
    *,
    project_id: int,
    session_id: str,
    now: datetime,
    scorer: RephraseScorer | None = None,
    changed_since: datetime | None = None,
) -> list[InferredSignal]:
    """Return the signals inferred from a session's turns of the last day up to now, each on the earlier turn.

    1. Read the turns (apps.traces.selectors.session_turn_list), the user's last message of each trace.
    2. Regenerate and rephrase compare consecutive user turns; abandon looks at the silence after each answer.
    3. Rephrase similarity comes from the project's embeddings endpoint when it has one, else (or when the
       endpoint fails) from the lexical reading; the signal's reason says which.
    Pure with respect to writes: the same turns and `now` give the same signals, so recording them is idempotent.
    With `changed_since`, regenerate and rephrase look only at later turns that started then or after (the turns
    a new batch brought); abandon always looks at every turn.
    """
    turns = [
        t
        for t in session_turn_list(project_id=project_id, session_id=session_id, since=now - LOOKBACK)
        if t.started_at <= now
    ]
    if not turns:
        return []
    windows = inference_windows()
    embedder = None
    if scorer is None:
        embedder = embedder_for_project(project_id)
        if embedder is None:
            scorer = LexicalScorer()
        else:
            threshold = settings.FEEDBACK_REPHRASE_EMBEDDING_THRESHOLD_PCT / 100
            scorer = EmbeddingScorer(embedder, threshold=threshold)
    try:
        signals = [
            *regenerate_detect(turns, window=windows.regenerate, since=changed_since),
            *rephrase_detect(turns, window=windows.rephrase, scorer=scorer, since=changed_since),
            *abandon_detect(turns, now=now, window=windows.abandon),
        ]
    finally:
        if embedder is not None:
            embedder.close()
    if isinstance(scorer, EmbeddingScorer) and scorer.failure is not None:
        logger.warning("rephrase fell back to lexical for session %s: %s", session_id, scorer.failure.message)
    return sorted(signals, key=lambda s: (s.occurred_at, s.trace_pk, s.kind))


def batch_sessions_infer(
    *, project_id: int, trace_pks: Sequence[int], now: datetime
) -> dict[str, list[InferredSignal]]:
    """Return, per session an ingest batch touched, the signals its new turns bring (the after-ingest path to wire).

    Regenerate and rephrase look only at the batch's turns (as the later turn), so a session's pairs are
    scored once, not again at every turn; abandon looks at every turn of the session.
    """
    starts = trace_session_starts(project_id=project_id, trace_pks=trace_pks)
    return {
        session_id: session_signals_infer(project_id=project_id, session_id=session_id, now=now, changed_since=first)
        for session_id, first in starts.items()
    }


# How far back the abandon sweep looks for windows that closed: sweeps every ~20 s may miss a few minutes.
ABANDON_SWEEP_LOOKBACK = timedelta(minutes=10)


def abandon_due_sessions(*, project_id: int, now: datetime, lookback: timedelta = ABANDON_SWEEP_LOOKBACK) -> list[str]:
    """Return the project's sessions whose abandon window closed within `lookback` before now (the sweep to wire)."""
    window = inference_windows().abandon
    # abandon_detect counts an answer exactly one window old as abandoned: include that instant.
    until = now - window + timedelta(microseconds=1)
    return session_idle_list(project_id=project_id, idle_from=now - window - lookback, idle_until=until)
