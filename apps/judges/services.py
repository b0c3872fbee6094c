"""Writes for judges: pinned configurations, their secrets, and building the client for one."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.core.jobs import Claim, Outcome, RowJob, job_claim, job_finish, job_mark_sent, job_release, job_sweep
from apps.core.outbound import OutboundRefused, outbound_url_check
from apps.core.prune import rows_delete_in_batches
from apps.core.queue import task_enqueue
from apps.feedback.inference.embeddings import EmbeddingsUnavailable
from apps.judges.llm import (
    JudgeConfig,
    JudgeError,
    JudgeInput,
    JudgeOutputInvalid,
    JudgeUnavailable,
    OpenAIEmbeddings,
    OpenAIJudge,
)
from apps.judges.models import Judge, JudgePreview, JudgeRequest
from apps.judges.rubrics import Rubric
from apps.judges.secrets import secret_decrypt, secret_encrypt
from apps.projects.models import Project

# Judges may read only variables an operator named for them: never SECRET_KEY, DATABASE_URL, ...
JUDGE_KEY_ENV_PREFIX = "SIGHTLINE_JUDGE_KEY_"


def judge_key_env_check(name: str) -> str:
    """Return the stripped variable name, or raise ValidationError naming api_key_env."""
    name = name.strip()
    if name and (not name.startswith(JUDGE_KEY_ENV_PREFIX) or name == JUDGE_KEY_ENV_PREFIX):
        raise ValidationError(
            {
                "api_key_env": f"must name an environment variable starting with {JUDGE_KEY_ENV_PREFIX}, e.g. "
                f"{JUDGE_KEY_ENV_PREFIX}OPENAI; or store the key encrypted instead"
            }
        )
    return name


def judge_base_url_check(base_url: str) -> str:
    """Return the base URL without a trailing slash, or raise ValidationError naming base_url.

    http(s) only; a host resolving to a private, loopback, link-local or metadata address is refused
    unless listed in settings.JUDGE_ALLOWED_HOSTS. Calls are checked again at connect time.
    """
    base_url = base_url.strip().rstrip("/")
    try:
        outbound_url_check(base_url, allowed_hosts=settings.JUDGE_ALLOWED_HOSTS)
    except OutboundRefused as exc:
        raise ValidationError({"base_url": str(exc)}) from exc
    return base_url


def judge_create(
    *,
    project: Project,
    name: str,
    base_url: str,
    model: str,
    api_key: str = "",
    api_key_env: str = "",
    timeout_s: float = 30.0,
    input_price_per_mtok: float | None = None,
    output_price_per_mtok: float | None = None,
) -> Judge:
    """Pin a judge: endpoint, exact model, and where its API key comes from (env var, or stored encrypted)."""
    if not model.strip():
        raise ValidationError({"model": "pin the judge's model exactly, e.g. gpt-4o-2024-08-06"})
    if Judge.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": f"a judge named {name!r} exists already"})
    if timeout_s <= 0:
        raise ValidationError({"timeout_s": "must be positive"})
    api_key_env = judge_key_env_check(api_key_env)
    base_url = judge_base_url_check(base_url)
    return Judge.objects.create(
        project=project,
        name=name,
        base_url=base_url,
        model=model.strip(),
        api_key_env=api_key_env,
        api_key_encrypted=secret_encrypt(api_key) if api_key else "",
        timeout_s=timeout_s,
        input_price_per_mtok=input_price_per_mtok,
        output_price_per_mtok=output_price_per_mtok,
    )


def judge_api_key(judge: Judge) -> str:
    """Return the judge's API key: a SIGHTLINE_JUDGE_KEY_* variable wins over the stored secret.

    Rows saved before the prefix rule may name any variable: such a name is ignored, never read.
    """
    env_name = judge.api_key_env
    if env_name.startswith(JUDGE_KEY_ENV_PREFIX) and env_name != JUDGE_KEY_ENV_PREFIX and os.environ.get(env_name):
        return os.environ[env_name]
    if judge.api_key_encrypted:
        return secret_decrypt(judge.api_key_encrypted)
    return ""


def judge_config_for(judge: Judge) -> JudgeConfig:
    """Return how to reach a pinned judge's endpoint: its URL, key, model, timeout, prices and allowed hosts."""
    return JudgeConfig(
        base_url=judge.base_url,
        api_key=judge_api_key(judge) or "no-key",
        model=judge.model,
        timeout_s=judge.timeout_s,
        input_price_per_mtok=judge.input_price_per_mtok,
        output_price_per_mtok=judge.output_price_per_mtok,
        # A refused address surfaces from grade() as JudgeOutputInvalid (permanent, recorded on the row).
        allowed_hosts=tuple(settings.JUDGE_ALLOWED_HOSTS),
    )


def judge_client_for(judge: Judge) -> OpenAIJudge:
    """Build the guarded OpenAI-compatible client for a pinned judge (connections checked, no redirects)."""
    return OpenAIJudge(judge_config_for(judge))


class JudgeEmbedder:
    """The feedback app's Embedder over a judge endpoint: judge errors become EmbeddingsUnavailable."""

    def __init__(self, client: OpenAIEmbeddings) -> None:
        self.client = client

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one vector per text, or raise EmbeddingsUnavailable (transient for JudgeUnavailable)."""
        try:
            return self.client.embed(texts)
        except JudgeError as exc:
            raise EmbeddingsUnavailable(str(exc), transient=isinstance(exc, JudgeUnavailable)) from exc

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self.client.close()


def judge_embedder_for_project(*, project_id: int) -> JudgeEmbedder | None:
    """Return an embedder for the project's active judge named FEEDBACK_EMBEDDINGS_JUDGE, or None if it has none.

    That judge is configured like any other (base URL, key from a SIGHTLINE_JUDGE_KEY_* variable or stored
    encrypted, timeout, JUDGE_ALLOWED_HOSTS); its model is the embeddings model, e.g. text-embedding-3-small.
    """
    name = settings.FEEDBACK_EMBEDDINGS_JUDGE
    judge = Judge.objects.filter(project_id=project_id, name=name, is_active=True).first() if name else None
    if judge is None:
        return None
    return JudgeEmbedder(OpenAIEmbeddings(judge_config_for(judge)))


JUDGE_PREVIEW_JOB = RowJob(
    model=JudgePreview,
    time_limit=settings.JUDGE_PREVIEW_TIME_LIMIT,
    in_flight=60,
    max_attempts=2,
)


def judge_preview_start(
    *, project: Project, judge: Judge, rubric: Rubric, items: Sequence[tuple[int, str, JudgeInput]]
) -> JudgePreview:
    """Queue a "Try it" run of a rubric on a few traces ((trace pk, trace id, input) each); nothing is stored as a score."""
    preview = JudgePreview.objects.create(
        project=project,
        judge=judge,
        rubric={f: getattr(rubric, f) for f in ("name", "scale", "criteria", "requires_context", "pass_threshold")},
        items=[{"trace_pk": pk, "trace_id": tid, **asdict(item)} for pk, tid, item in items],
    )
    transaction.on_commit(lambda: judge_preview_enqueue(preview_id=preview.id))
    return preview


def judge_preview_enqueue(*, preview_id: int) -> bool:
    """Send the preview's job; a broker outage marks it unsent for the sweeper."""
    from apps.judges.tasks import judge_preview_run_task

    if task_enqueue(judge_preview_run_task, preview_id):
        return True
    job_mark_sent(JUDGE_PREVIEW_JOB, row_ids=[preview_id], sent=False)
    return False


def judge_preview_run(*, preview_id: int) -> Claim:
    """Grade each item of a preview with its judge, recording a verdict or an error per item."""
    claim = job_claim(JUDGE_PREVIEW_JOB, row_id=preview_id)
    if claim.outcome is not Outcome.CLAIMED:
        return claim
    preview = JudgePreview.objects.select_related("judge").get(id=preview_id)
    rubric = Rubric(**preview.rubric)
    client = judge_client_for(preview.judge)
    results = []
    try:
        for item in preview.items:
            judge_input = JudgeInput(**{k: item[k] for k in ("question", "answer", "contexts", "system_prompt")})
            shown = {"trace_id": item["trace_id"], "answer": item["answer"][:500]}
            try:
                verdict = client.grade(rubric=rubric, item=judge_input)
            except (JudgeUnavailable, JudgeOutputInvalid) as exc:
                results.append({**shown, "error": str(exc)[:500]})
                continue
            results.append(
                {
                    **shown,
                    "label": verdict.label,
                    "score": verdict.score,
                    "passed": verdict.passed,
                    "reason": verdict.reason,
                }
            )
    except Exception as exc:
        # A soft time limit (or anything unexpected) hands the row back and propagates: never swallowed.
        job_release(JUDGE_PREVIEW_JOB, row_id=preview_id, token=claim.token, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        client.close()
    job_finish(JUDGE_PREVIEW_JOB, row_id=preview_id, token=claim.token, results=results, finished_at=timezone.now())
    return claim


def judge_previews_sweep(*, limit: int = 100) -> list[int]:
    """Send jobs for previews with none in flight (broker outage, dead worker)."""
    return job_sweep(
        JUDGE_PREVIEW_JOB, send=lambda preview_id: judge_preview_enqueue(preview_id=preview_id), limit=limit
    )


# Previews answer the admin who is looking at the page; a day later nobody is.
JUDGE_PREVIEW_RETENTION = timedelta(days=1)


def judge_requests_prune(*, now: datetime | None = None, budget_seconds: float = 60.0) -> int:
    """Delete done and discarded judge requests older than BOOKKEEPING_RETENTION_DAYS; failed ones stay."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.BOOKKEEPING_RETENTION_DAYS)
    finished = JudgeRequest.objects.filter(
        status__in=[JudgeRequest.Status.DONE, JudgeRequest.Status.DISCARDED], created_at__lt=cutoff
    )
    return rows_delete_in_batches(finished, budget_seconds=budget_seconds)


def judge_previews_prune(*, now: datetime | None = None, budget_seconds: float = 60.0) -> int:
    """Delete judge previews older than a day, whatever their status (a preview's job ends within minutes)."""
    cutoff = (now or timezone.now()) - JUDGE_PREVIEW_RETENTION
    return rows_delete_in_batches(JudgePreview.objects.filter(created_at__lt=cutoff), budget_seconds=budget_seconds)
