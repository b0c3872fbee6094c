"""Where tasks go and when beat sends them: plain data, no Django, shared by config.celery and apps.core.beat."""

from __future__ import annotations

from datetime import timedelta

# Queues: ingest (post-ingest batch work), evaluations, judge (LLM-bound), alerts, default.
TASK_ROUTES = {
    "evaluators.judge_request_run": {"queue": "judge"},  # exact names win over the globs below
    "traces.*": {"queue": "ingest"},
    "evaluators.*": {"queue": "evaluations"},
    "judges.*": {"queue": "judge"},
    "slis.*": {"queue": "alerts"},
    "datasets.*": {"queue": "evaluations"},  # offline runs run the same evaluators (their judge calls inline)
}

# Sweepers send jobs for rows with none in flight (apps/core/jobs.py). Every 15 s, so that after a broker
# outage (sends skipped by the breaker in apps/core/queue.py) evaluation catches up within a minute.
BEAT_SCHEDULE = {
    "ingest-batch-sweep": {
        "task": "traces.ingest_batch_sweep",
        "schedule": timedelta(seconds=15),
        "options": {"expires": 14},
    },
    # Evaluations from /v1/logs that name only a response id: resolve them, or reject them after the grace period.
    "pending-evaluations-sweep": {
        "task": "traces.pending_evaluations_sweep",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 50},
    },
    "judge-requests-sweep": {
        "task": "evaluators.judge_requests_sweep",
        "schedule": timedelta(seconds=15),
        "options": {"expires": 14},
    },
    "judge-previews-sweep": {
        "task": "judges.judge_previews_sweep",
        "schedule": timedelta(seconds=15),
        "options": {"expires": 14},
    },
    # Finished bookkeeping rows (batches, judge requests, previews, stale pending log rows), in bounded batches.
    "traces-bookkeeping-prune": {
        "task": "traces.bookkeeping_prune",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3000},
    },
    # Partitions of traces/spans/scores created ahead (gaps logged, shown by /readyz), then per-project retention.
    "traces-data-lifecycle": {
        "task": "traces.data_lifecycle",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3000},
    },
    # Planner statistics for today's and tomorrow's partitions once they changed enough (autovacuum may be off).
    "traces-partitions-analyze": {
        "task": "traces.partitions_analyze",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 50},
    },
    "judges-bookkeeping-prune": {
        "task": "judges.bookkeeping_prune",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3000},
    },
    # Judges against humans: every active judge's current and shadow versions grade the labels they have not seen.
    "judges-calibrations-daily": {
        "task": "judges.calibrations_daily",
        "schedule": timedelta(days=1),
        "options": {"expires": 3600},
    },
    # Feedback that arrived before its trace: link it once the trace exists (ingest batches also link at once).
    "feedback-link-sweep": {
        "task": "feedback.feedback_link_sweep",
        "schedule": timedelta(seconds=15),
        "options": {"expires": 14},
    },
    # Implicit feedback: sessions whose inactivity window closed are abandoned (within ~20 s of the window's end).
    "feedback-abandon-sweep": {
        "task": "feedback.feedback_abandon_sweep",
        "schedule": timedelta(seconds=20),
        "options": {"expires": 19},
    },
    # Dirty rollup minutes recomputed from their rows: charts and SLIs are within a minute of the scores landing.
    "rollups-drain": {
        "task": "scores.rollups_drain",
        "schedule": timedelta(seconds=15),
        "options": {"expires": 14},
    },
    # Dirty sessions recomputed from their rows: the sessions list is within ~15 s of the traces and scores.
    "session-summaries-drain": {
        "task": "scores.session_summaries_drain",
        "schedule": timedelta(seconds=15),
        "options": {"expires": 14},
    },
    # Rollups past ROLLUP_RETENTION_DAYS, in bounded batches.
    "rollups-prune": {
        "task": "scores.rollups_prune",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3000},
    },
    # Alert rules from the rollups (apps/slis): with the 15 s drain, a breach fires within a minute.
    "slis-rules-evaluate": {
        "task": "slis.rules_evaluate",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 29},
    },
    "slis-notifications-sweep": {
        "task": "slis.notifications_sweep",
        "schedule": timedelta(seconds=15),
        "options": {"expires": 14},
    },
    "slis-bookkeeping-prune": {
        "task": "slis.bookkeeping_prune",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3000},
    },
    "offline-runs-sweep": {
        "task": "datasets.offline_runs_sweep",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 29},
    },
    "backfills-sweep": {
        "task": "evaluators.backfills_sweep",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 29},
    },
    # After a release that changed a check's logic, record the new evaluator versions (charts mark the step)
    # even before traffic arrives; evaluation batches also sync on their own.
    "evaluator-versions-sync": {
        "task": "evaluators.versions_sync",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 290},
    },
}
