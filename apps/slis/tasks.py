"""Celery entry points of alerting: thin, taking ids (queue `alerts`)."""

from __future__ import annotations

from celery import shared_task

RULE_EVALUATE_RETRIES = 2


@shared_task(name="slis.rules_evaluate", ignore_result=True, soft_time_limit=20, time_limit=25)
def rules_evaluate_task() -> None:
    """Send one evaluation job per enabled rule (beat, every 30 s)."""
    from apps.slis.services import rules_evaluate

    rules_evaluate()


@shared_task(
    bind=True,
    name="slis.rule_evaluate",
    ignore_result=True,
    soft_time_limit=50,
    time_limit=60,
    max_retries=RULE_EVALUATE_RETRIES,
)
def rule_evaluate_task(self, rule_id: int) -> None:  # noqa: ANN001 - Celery's bound task
    """Evaluate one rule; retried, then the failure is recorded on the rule's page (never skipped silently)."""
    from apps.slis.services import rule_evaluate, rule_evaluation_failed

    try:
        rule_evaluate(rule_id=rule_id)
    except Exception as exc:
        if self.request.retries >= RULE_EVALUATE_RETRIES:
            rule_evaluation_failed(rule_id=rule_id, error=f"{type(exc).__name__}: {exc}")
            raise
        raise self.retry(exc=exc, countdown=2 + 3 * self.request.retries) from exc


@shared_task(
    bind=True,
    name="slis.notification_deliver",
    ignore_result=True,
    acks_late=True,
    max_retries=None,
    soft_time_limit=30,
    time_limit=40,
)
def notification_deliver_task(self, notification_id: int) -> None:  # noqa: ANN001 - Celery's bound task
    """Deliver one notification; a failed attempt is retried after its backoff, a live claim is waited out."""
    from apps.core.jobs import Outcome
    from apps.slis.services import notification_deliver

    claim, retry_in = notification_deliver(notification_id=notification_id)
    if claim.outcome is Outcome.BUSY:
        raise self.retry(countdown=claim.wait)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


@shared_task(name="slis.notifications_sweep", ignore_result=True, soft_time_limit=10, time_limit=12)
def notifications_sweep_task() -> None:
    """Send jobs for deliveries with none in flight."""
    from apps.slis.services import notifications_sweep

    notifications_sweep()


@shared_task(name="slis.bookkeeping_prune", ignore_result=True, soft_time_limit=300, time_limit=330)
def bookkeeping_prune_task() -> None:
    """Delete delivered notifications past retention, in batches."""
    from apps.slis.services import notifications_prune

    notifications_prune()
