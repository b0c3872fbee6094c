"""Writes and rules for evaluators: definitions, running them on batches, judge requests, backfills."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from apps.core.jobs import (
    NOT_SENT,
    Claim,
    Outcome,
    RowJob,
    job_claim,
    job_fail,
    job_finish,
    job_mark_sent,
    job_release,
    job_retry,
    job_sweep,
)
from apps.core.queue import task_enqueue
from apps.evaluators.checks import CHECKS, CheckConfigError, run_check
from apps.evaluators.models import Backfill, Evaluator, EvaluatorVersion
from apps.evaluators.selectors import (
    check_logic_version,
    config_version,
    evaluator_version_expected,
    sampled,
    subjects_build,
)
from apps.evaluators.subject import CheckResult, Subject
from apps.judges.llm import JudgeClient, JudgeInput, JudgeOutputInvalid, JudgeUnavailable, retry_delay
from apps.judges.models import Judge, JudgePreview, JudgeRequest
from apps.judges.rubrics import BUILTIN_RUBRICS, Rubric, custom_rubric
from apps.judges.selectors import judge_version_number
from apps.judges.services import judge_client_for, judge_judgment_count, judge_preview_start, judge_version_current
from apps.projects.models import Project
from apps.scores.models import Score
from apps.scores.services import ScoreInput, scores_supersede, scores_upsert
from apps.traces.models import Trace
from apps.traces.services import ingest_batch_discard, ingest_batch_retry

logger = logging.getLogger(__name__)

FILTER_KEYS = ("route", "model", "prompt_version", "environment", "tags", "span_kind")
SCALES = ("binary", "likert5")

# The set every new project starts with; citations/grounding apply only to traces with retrieved
# documents and json_valid only to traces whose request asked for JSON (the checks decide that).
DEFAULT_EVALUATORS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("not_empty", Evaluator.Kind.NOT_EMPTY, {}),
    ("refusal", Evaluator.Kind.REFUSAL, {}),
    ("citations", Evaluator.Kind.CITATIONS, {}),
    ("grounding", Evaluator.Kind.GROUNDING, {}),
    ("json_valid", Evaluator.Kind.JSON_VALID, {}),
)


# -- definitions -----------------------------------------------------------------------------------


def _clean_filters(filters: dict[str, Any] | None) -> dict[str, list[str]]:
    """Keep known filter keys as lists of non-empty strings; reject unknown keys by name."""
    cleaned: dict[str, list[str]] = {}
    for key, value in (filters or {}).items():
        if key not in FILTER_KEYS:
            raise ValidationError({"filters": f"unknown filter {key!r}; use {', '.join(FILTER_KEYS)}"})
        values = [value] if isinstance(value, str) else list(value or [])
        values = [str(v).strip() for v in values if str(v).strip()]
        if values:
            cleaned[key] = values
    return cleaned


def rubric_for(config: dict[str, Any]) -> Rubric:
    """Return the rubric an llm_judge config names (built-in) or defines (custom)."""
    name = config.get("rubric") or ""
    try:
        if name in BUILTIN_RUBRICS and not config.get("criteria"):
            rubric = BUILTIN_RUBRICS[name]
            scale = config.get("scale")
            if scale and scale != rubric.scale:
                rubric = custom_rubric(rubric.name, rubric.criteria, scale, requires_context=rubric.requires_context)
            return rubric
        return custom_rubric(
            name or "custom",
            config.get("criteria") or "",
            config.get("scale") or "binary",
            requires_context=bool(config.get("requires_context")),
        )
    except ValueError as exc:
        raise ValidationError({"config": str(exc)}) from exc


def _clean_config(kind: str, config: dict[str, Any], judge: Judge | None) -> tuple[dict[str, Any], str]:
    """Validate a kind's config; return it cleaned and the evaluator version it implies."""
    if kind == Evaluator.Kind.LLM_JUDGE:
        if judge is None:
            raise ValidationError({"judge": "an llm_judge evaluator needs a judge"})
        rubric = rubric_for(config)
        cleaned = {k: config[k] for k in ("rubric", "criteria", "scale", "requires_context") if config.get(k)}
        # The judge's version joins the hash from version 2 on, so an edited judge's verdicts are new scores (and
        # the hashes of evaluators whose judge was never edited stay what they were).
        number = judge_version_number(judge=judge)
        extra = f"{judge.model}|{rubric.version}" + (f"|judge-v{number}" if number > 1 else "")
        return cleaned, config_version(kind=kind, config=cleaned, extra=extra)
    if kind not in CHECKS:
        raise ValidationError({"kind": f"unknown kind {kind!r}"})
    try:
        cleaned = CHECKS[kind].validate_config(dict(config or {}))
    except CheckConfigError as exc:
        raise ValidationError({f"config.{exc.field}" if exc.field else "config": exc.message}) from exc
    return cleaned, config_version(kind=kind, config=cleaned)  # the check's logic version joins the hash there


@dataclass
class EvaluatorSpec:
    """What a user submits to define an evaluator."""

    name: str
    kind: str
    config: dict[str, Any]
    filters: dict[str, Any]
    sample_rate: float = 1.0
    is_enabled: bool = True
    judge: Judge | None = None


def _checked(project: Project, spec: EvaluatorSpec) -> tuple[dict[str, Any], str, dict[str, list[str]]]:
    if not 0.0 <= spec.sample_rate <= 1.0:
        raise ValidationError({"sample_rate": "must be between 0 and 1"})
    if spec.judge is not None and spec.judge.project_id != project.id:
        raise ValidationError({"judge": "no such judge in this project"})
    config, version = _clean_config(spec.kind, spec.config, spec.judge)
    return config, version, _clean_filters(spec.filters)


def _changeable_fields(
    spec: EvaluatorSpec, config: dict[str, Any], version: str, filters: dict[str, list[str]]
) -> dict[str, Any]:
    """The columns a user may set on an evaluator (name and kind are fixed once created)."""
    return {
        "config": config,
        "version": version,
        "filters": filters,
        "sample_rate": spec.sample_rate,
        "is_enabled": spec.is_enabled,
        "judge": spec.judge,
    }


def evaluator_create(*, project: Project, spec: EvaluatorSpec, is_default: bool = False) -> Evaluator:
    """Define a new evaluator (validated config, a version derived from it)."""
    config, version, filters = _checked(project, spec)
    if Evaluator.objects.filter(project=project, name=spec.name).exists():
        raise ValidationError({"name": f"an evaluator named {spec.name!r} exists already"})
    evaluator = Evaluator.objects.create(
        project=project,
        name=spec.name,
        kind=spec.kind,
        is_default=is_default,
        **_changeable_fields(spec, config, version, filters),
    )
    _version_record(evaluator, previous="", reason=EvaluatorVersion.Reason.CREATED)
    return evaluator


def _version_record(evaluator: Evaluator, *, previous: str, reason: str) -> EvaluatorVersion:
    """Record the evaluator's current version in its history."""
    return EvaluatorVersion.objects.create(
        project_id=evaluator.project_id,
        evaluator=evaluator,
        version=evaluator.version,
        previous_version=previous,
        reason=reason,
        logic_version=check_logic_version(evaluator.kind),
    )


def evaluator_update(*, evaluator: Evaluator, spec: EvaluatorSpec) -> Evaluator:
    """Change an evaluator; its version changes when what it computes changes (name and kind are fixed)."""
    if spec.kind != evaluator.kind:
        raise ValidationError({"kind": "the kind of an evaluator cannot change; create another one"})
    config, version, filters = _checked(evaluator.project, spec)
    previous = evaluator.version
    with transaction.atomic():
        Evaluator.objects.filter(id=evaluator.id).update(
            updated_at=timezone.now(), **_changeable_fields(spec, config, version, filters)
        )
        evaluator.refresh_from_db()
        if evaluator.version != previous:
            _version_record(evaluator, previous=previous, reason=EvaluatorVersion.Reason.CONFIG)
    return evaluator


def evaluator_version_sync(*, evaluator: Evaluator) -> bool:
    """Move a programmatic evaluator to the version this code computes when its check's logic changed.

    Conditional on the stored version, so two workers noticing the same change record it once. Return
    whether this call changed it; `evaluator` carries the current version afterwards either way.
    """
    expected = evaluator_version_expected(evaluator=evaluator)
    if expected is None or expected == evaluator.version:
        return False
    if _logic_is_newer_than_this_code(evaluator):
        return False  # a worker still on the previous release during a rolling deploy: never move back
    previous = evaluator.version
    with transaction.atomic():
        changed = Evaluator.objects.filter(id=evaluator.id, version=previous).update(
            version=expected, updated_at=timezone.now()
        )
        evaluator.version = expected
        if changed:
            _version_record(evaluator, previous=previous, reason=EvaluatorVersion.Reason.LOGIC)
    return bool(changed)


def _logic_is_newer_than_this_code(evaluator: Evaluator) -> bool:
    """Whether the stored version was recorded by a newer logic version of the check than this process runs."""
    recorded = (
        EvaluatorVersion.objects.filter(evaluator=evaluator, version=evaluator.version)
        .order_by("-created_at", "-id")
        .values_list("logic_version", flat=True)
        .first()
    )
    mine = check_logic_version(evaluator.kind)
    if not recorded or not recorded.isdigit() or not mine.isdigit():
        return False
    return int(recorded) > int(mine)


def evaluator_versions_sync(*, project_id: int | None = None) -> list[int]:
    """Sync every programmatic evaluator (of one project, or all) to this code's version; return those changed."""
    evaluators = Evaluator.objects.exclude(kind=Evaluator.Kind.LLM_JUDGE)
    if project_id is not None:
        evaluators = evaluators.filter(project_id=project_id)
    return [ev.id for ev in evaluators.iterator() if evaluator_version_sync(evaluator=ev)]


def evaluators_rehash_for_judge(judge_id: int) -> int:
    """Re-derive the versions of the evaluators that use a judge whose current version changed; return how many."""
    changed = 0
    for evaluator in Evaluator.objects.filter(judge_id=judge_id).select_related("judge"):
        _, version = _clean_config(evaluator.kind, evaluator.config, evaluator.judge)
        if version != evaluator.version:
            changed += Evaluator.objects.filter(id=evaluator.id).update(version=version, updated_at=timezone.now())
    return changed


def evaluators_default_create(*, project: Project) -> list[Evaluator]:
    """Give a project the default evaluator set (idempotent: existing names are kept)."""
    created = []
    for name, kind, config in DEFAULT_EVALUATORS:
        if not Evaluator.objects.filter(project=project, name=name).exists():
            spec = EvaluatorSpec(name=name, kind=kind, config=config, filters={})
            created.append(evaluator_create(project=project, spec=spec, is_default=True))
    return created


# -- running ---------------------------------------------------------------------------------------


def _applies(evaluator: Evaluator, subject: Subject) -> bool:
    """Whether the evaluator's filters select this trace (its sample is decided separately)."""
    filters = evaluator.filters or {}
    for key in ("route", "model", "prompt_version", "environment"):
        if key in filters and getattr(subject, key) not in filters[key]:
            return False
    if "tags" in filters and not set(filters["tags"]) & set(subject.tags):
        return False
    if "span_kind" in filters and not set(filters["span_kind"]) & subject.span_kinds:
        return False
    return True


def _score_from(evaluator: Evaluator, trace_pk: int, result: CheckResult) -> ScoreInput:
    return ScoreInput(
        trace_pk=trace_pk,
        name=evaluator.name,
        source=Score.Source.PROGRAMMATIC,
        value=result.value,
        label=result.label,
        passed=result.passed,
        explanation=result.explanation,
        evaluator_version=evaluator.version,
    )


# Subjects are scored in chunks: every evaluator runs over one chunk before the next, so a trace's documents,
# analysed by the first check that reads them, are still in the checks' caches when the next check reads them
# (evaluator by evaluator over a large batch, the first trace's documents were evicted before the second check).
SUBJECT_CHUNK = 32


def evaluate_subjects(
    *, evaluators: Sequence[Evaluator], subjects: dict[int, Subject]
) -> tuple[list[ScoreInput], list[tuple[Evaluator, int]]]:
    """Run programmatic evaluators on subjects; return their scores and the (judge evaluator, trace) pairs sampled,
    evaluator by evaluator, each in the subjects' order (chunks of SUBJECT_CHUNK subjects keep the caches warm)."""
    scored: list[list[ScoreInput]] = [[] for _ in evaluators]
    judged: list[list[tuple[Evaluator, int]]] = [[] for _ in evaluators]
    items = list(subjects.items())
    for start in range(0, len(items), SUBJECT_CHUNK):
        chunk = items[start : start + SUBJECT_CHUNK]
        for evaluator, scores, pairs in zip(evaluators, scored, judged, strict=True):
            _evaluate_chunk(evaluator, chunk, scores, pairs)
    return [s for scores in scored for s in scores], [p for pairs in judged for p in pairs]


def _evaluate_chunk(
    evaluator: Evaluator,
    chunk: list[tuple[int, Subject]],
    scores: list[ScoreInput],
    judged: list[tuple[Evaluator, int]],
) -> None:
    """Score a chunk of subjects with one evaluator, appending to scores (or, for a judge, to judged)."""
    # Stored configs were validated when saved: run the check directly, not through run_check.
    check = None if evaluator.is_judge else CHECKS.get(evaluator.kind)
    if check is None and not evaluator.is_judge:
        return
    # Without filters every trace applies, and at rate 1 every trace is sampled: skip both per-trace calls.
    filtered = bool(evaluator.filters)
    everything = evaluator.sample_rate >= 1.0
    config = evaluator.config
    for trace_pk, subject in chunk:
        if filtered and not _applies(evaluator, subject):
            continue
        if not everything and not sampled(
            trace_id=subject.trace_id, evaluator_name=evaluator.name, rate=evaluator.sample_rate
        ):
            continue
        if check is None:  # a judge evaluator
            if evaluator.judge is not None and evaluator.judge.is_active:  # a deactivated judge stops judging
                judged.append((evaluator, trace_pk))
            continue
        try:
            if not check.applies(subject, config):
                continue
            result = check.run(subject, config)
        except SoftTimeLimitExceeded:
            raise  # the task's time is up: never swallowed as one broken check
        except Exception:  # noqa: BLE001 - one broken check must not stop the others
            logger.exception("evaluator %s failed on trace %s", evaluator.name, subject.trace_id)
            continue
        scores.append(_score_from(evaluator, trace_pk, result))


def evaluations_run(*, project_id: int, trace_pks: Sequence[int], evaluators: Sequence[Evaluator] | None = None) -> int:
    """Score traces with the project's enabled evaluators; queue sampled judge calls. Return scores written."""
    # Only the id is needed to score; no query for the project row on the hot path.
    project = Project(id=project_id)
    if evaluators is None:
        evaluators = list(Evaluator.objects.filter(project_id=project_id, is_enabled=True).select_related("judge"))
        for evaluator in evaluators:
            evaluator_version_sync(evaluator=evaluator)  # after a deploy that changed a check: score as the new one
    if not evaluators or not trace_pks:
        return 0
    subjects = subjects_build(trace_pks=trace_pks)
    scores, judged = evaluate_subjects(evaluators=evaluators, subjects=subjects)
    if not judged:
        return scores_upsert(project=project, items=scores)  # one statement: atomic without a transaction block
    with transaction.atomic():
        written = scores_upsert(project=project, items=scores)
        judge_requests_create(project=project, pairs=judged)
    return written


def judge_requests_create(*, project: Project, pairs: Sequence[tuple[Evaluator, int]]) -> list[int]:
    """Create pending judge requests (once per evaluator version and trace) and enqueue them after commit."""
    if not pairs:
        return []
    rows = [
        JudgeRequest(project=project, evaluator=ev, evaluator_version=ev.version, trace_id=trace_pk)
        for ev, trace_pk in pairs
    ]
    JudgeRequest.objects.bulk_create(rows, ignore_conflicts=True)
    keys = {(ev.id, ev.version, trace_pk) for ev, trace_pk in pairs}
    pending = JudgeRequest.objects.filter(
        project=project, status=JudgeRequest.Status.PENDING, trace_id__in={p for _, p in pairs}
    ).values_list("id", "evaluator_id", "evaluator_version", "trace_id")
    ids = [rid for rid, ev_id, version, trace_pk in pending if (ev_id, version, trace_pk) in keys]

    transaction.on_commit(lambda: _judge_requests_send(ids))
    return ids


JUDGE_REQUEST_JOB = RowJob(
    model=JudgeRequest,
    time_limit=settings.JUDGE_TASK_TIME_LIMIT,
    in_flight=60,  # counted from when the job is due (a retry's countdown included)
    max_attempts=settings.JUDGE_MAX_ATTEMPTS,
)


class JudgeRetry(JudgeUnavailable):
    """The judge was unavailable and the request was handed back: its retry is due in `countdown` seconds."""

    def __init__(self, message: str, retry_after: float | None = None, countdown: float = 0.0) -> None:
        super().__init__(message, retry_after)
        self.countdown = countdown

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.retry_after, self.countdown))


@dataclass(frozen=True)
class JudgeRun:
    """What one delivery of a judge request did: its status, and for `busy` when to look again."""

    status: str  # done, failed, parked (project at its limit), busy (live claim elsewhere), skipped
    wait: float = 0.0


def _judge_input(subject: Subject) -> JudgeInput:
    return JudgeInput(
        question=subject.input,
        answer=subject.output,
        contexts=[d.content for d in subject.documents],
        system_prompt=subject.system_prompt,
    )


def _judge_running(project_id: int, now: datetime) -> int:
    """Judge calls of a project with a live claim (a dead worker's claim frees its slot)."""
    live = now - timedelta(seconds=JUDGE_REQUEST_JOB.time_limit)
    return JudgeRequest.objects.filter(
        project_id=project_id, status=JudgeRequest.Status.RUNNING, started_at__gte=live
    ).count()


def _judge_claim(request_id: int) -> tuple[Claim | None, str, int]:
    """Claim a request if its project has a free slot, else park it pending until one frees (row locks serialize)."""
    row = JudgeRequest.objects.filter(id=request_id).values("project_id", "status").first()
    if row is None:
        return None, "skipped", 0
    with transaction.atomic():
        # Lock the project row so concurrent claims of one project count each other.
        Project.objects.select_for_update().filter(id=row["project_id"]).first()
        now = timezone.now()
        if row["status"] == JudgeRequest.Status.PENDING and (
            _judge_running(row["project_id"], now) >= settings.JUDGE_MAX_CONCURRENCY_PER_PROJECT
        ):
            # No retry loop: the request waits, parked, until a finishing call dispatches it into its slot.
            JudgeRequest.objects.filter(id=request_id, status=JudgeRequest.Status.PENDING).update(enqueued_at=NOT_SENT)
            return None, "parked", row["project_id"]
        claim = job_claim(JUDGE_REQUEST_JOB, row_id=request_id, now=now)
    if claim.outcome is Outcome.GONE:
        return None, "skipped", row["project_id"]
    return claim, claim.outcome.value, row["project_id"]


def judge_request_run(*, request_id: int, client: JudgeClient | None = None) -> JudgeRun:
    """Grade one sampled trace with its judge evaluator and store the verdict as a score.

    A judge outage hands the request back and raises JudgeRetry with the backoff, until
    JUDGE_MAX_ATTEMPTS make it failed; a project at its concurrency limit parks the request.
    """
    claim, state, project_id = _judge_claim(request_id)
    if claim is None:
        return JudgeRun(state)
    if claim.outcome is Outcome.BUSY:
        return JudgeRun("busy", wait=claim.wait)
    try:
        return _judge_grade(request_id, claim, client)
    finally:
        # Whatever the outcome, a slot of this project may be free now: fill it with a parked request.
        judge_requests_dispatch(project_id=project_id)


def _judge_grade(request_id: int, claim: Claim, client: JudgeClient | None) -> JudgeRun:
    token = claim.token
    request = JudgeRequest.objects.select_related("evaluator__judge", "project").get(id=request_id)
    evaluator = request.evaluator
    subject = subjects_build(trace_pks=[request.trace_id]).get(request.trace_id)
    if subject is None or evaluator.judge is None:
        _judge_finish(request_id, token, JudgeRequest.Status.FAILED, "trace or judge no longer exists")
        return JudgeRun(JudgeRequest.Status.FAILED)
    if not evaluator.judge.is_active:
        _judge_finish(request_id, token, JudgeRequest.Status.FAILED, "judge deactivated")
        return JudgeRun(JudgeRequest.Status.FAILED)
    judge_version = judge_version_current(judge=evaluator.judge)
    rubric = rubric_for(evaluator.config)
    owned = client is None
    judge = client or judge_client_for(evaluator.judge)
    try:
        verdict = judge.grade(rubric=rubric, item=_judge_input(subject))
    except JudgeUnavailable as exc:
        countdown = retry_delay(claim.attempts - 1, exc.retry_after)
        status = job_release(
            JUDGE_REQUEST_JOB,
            row_id=request_id,
            token=token,
            error=f"judge unavailable (attempt {claim.attempts}): {exc}",
            retry_in=countdown,
            finished_at=timezone.now(),
        )
        if status == JudgeRequest.Status.FAILED:
            return JudgeRun(JudgeRequest.Status.FAILED)
        raise JudgeRetry(str(exc), exc.retry_after, countdown) from exc
    except JudgeOutputInvalid as exc:
        _judge_finish(request_id, token, JudgeRequest.Status.FAILED, f"judge output invalid: {exc}"[:2000])
        return JudgeRun(JudgeRequest.Status.FAILED)
    except Exception as exc:
        # Anything else (a soft time limit included) hands the row back and propagates: never swallowed.
        job_release(JUDGE_REQUEST_JOB, row_id=request_id, token=token, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if owned:
            judge.close()  # type: ignore[attr-defined]  # free the HTTP connection pool
    score = ScoreInput(
        trace_pk=request.trace_id,
        name=evaluator.name,
        source=Score.Source.JUDGE,
        value=verdict.score,
        label=verdict.label,
        passed=verdict.passed,
        explanation=verdict.reason,
        evaluator_version=request.evaluator_version,
        judge_model=verdict.model_pinned,
        metadata={
            "model_reported": verdict.model_reported,
            # What made the score: the judge version, and whether the endpoint answered with another model.
            "judge_id": evaluator.judge_id,
            "judge_version": judge_version.number,
            "model_mismatch": judge_judgment_count(
                version_id=judge_version.id, model_pinned=verdict.model_pinned, model_reported=verdict.model_reported
            ),
            "rubric": rubric.name,
            "rubric_version": verdict.rubric_version,
            "confidence": verdict.confidence,
            "latency_ms": verdict.latency_ms,
            "input_tokens": verdict.input_tokens,
            "output_tokens": verdict.output_tokens,
            "cost": verdict.cost,
        },
    )
    with transaction.atomic():
        scores_upsert(project=request.project, items=[score])
        _judge_finish(request_id, token, JudgeRequest.Status.DONE, "")
    return JudgeRun(JudgeRequest.Status.DONE)


def _judge_finish(request_id: int, token: datetime | None, status: str, error: str) -> None:
    job_finish(
        JUDGE_REQUEST_JOB, row_id=request_id, token=token, status=status, error=error, finished_at=timezone.now()
    )


def judge_request_fail(*, request_id: int, error: str) -> None:
    """Record that a request can run no more (e.g. its task ran out of retries)."""
    job_fail(JUDGE_REQUEST_JOB, row_id=request_id, error=error, finished_at=timezone.now())


def judge_request_enqueue(*, request_id: int) -> bool:
    """Send one request's job; a broker outage marks it unsent for the sweeper."""
    from apps.evaluators.tasks import judge_request_run_task

    if task_enqueue(judge_request_run_task, request_id):
        return True
    job_mark_sent(JUDGE_REQUEST_JOB, row_ids=[request_id], sent=False)
    return False


def judge_requests_dispatch(*, project_id: int) -> list[int]:
    """Send parked requests of a project into its free judge slots (oldest first)."""
    with transaction.atomic():
        Project.objects.select_for_update().filter(id=project_id).first()
        free = settings.JUDGE_MAX_CONCURRENCY_PER_PROJECT - _judge_running(project_id, timezone.now())
        if free <= 0:
            return []
        parked = JudgeRequest.objects.filter(
            project_id=project_id, status=JudgeRequest.Status.PENDING, enqueued_at=NOT_SENT
        ).order_by("created_at", "id")
        ids = list(parked.values_list("id", flat=True)[:free])
        job_mark_sent(JUDGE_REQUEST_JOB, row_ids=ids, sent=True)  # in flight from now: no second dispatch

        transaction.on_commit(lambda: _judge_requests_send(ids))
    return ids


def _judge_requests_send(ids: list[int]) -> None:
    """Send jobs for these requests; at the first broker failure mark the rest unsent for the sweeper."""
    for position, request_id in enumerate(ids):
        if not judge_request_enqueue(request_id=request_id):
            job_mark_sent(JUDGE_REQUEST_JOB, row_ids=ids[position:], sent=False)
            return


def _judge_sweep_pick(candidates: QuerySet) -> list[int]:
    """Dead workers' claims always; pending requests only into their project's free slots."""
    now = timezone.now()
    free: dict[int, int] = {}
    ids = []
    for request_id, project_id, status in candidates.values_list("id", "project_id", "status")[:5000]:
        if status == JudgeRequest.Status.RUNNING:
            ids.append(request_id)
            continue
        if project_id not in free:
            free[project_id] = settings.JUDGE_MAX_CONCURRENCY_PER_PROJECT - _judge_running(project_id, now)
        if free[project_id] > 0:
            free[project_id] -= 1
            ids.append(request_id)
    return ids


def judge_requests_sweep(*, limit: int = 500) -> list[int]:
    """Send jobs for requests with none in flight: unsent, parked with a free slot, or claimed by a dead worker."""
    return job_sweep(
        JUDGE_REQUEST_JOB,
        send=lambda request_id: judge_request_enqueue(request_id=request_id),
        limit=limit,
        pick=_judge_sweep_pick,
    )


def judge_request_retry(*, project: Project, request_id: int) -> bool:
    """Put a failed request back to pending and send its job; False if it is not a failed request of the project."""
    if not job_retry(JUDGE_REQUEST_JOB, row_id=request_id, project=project):
        return False
    transaction.on_commit(lambda: judge_request_enqueue(request_id=request_id))
    return True


def judge_request_discard(*, project: Project, request_id: int) -> bool:
    """Give up a failed request for good."""
    failed = JudgeRequest.objects.filter(id=request_id, project=project, status=JudgeRequest.Status.FAILED)
    return failed.update(status=JudgeRequest.Status.DISCARDED, finished_at=timezone.now()) == 1


# -- preview and backfill --------------------------------------------------------------------------


@dataclass
class PreviewRow:
    """One recent trace with what the evaluator would have scored."""

    trace: Trace
    result: CheckResult | None
    applies: bool
    error: str = ""


@dataclass
class Preview:
    """A preview's rows; for a judge, the job that grades up to 3 of them (polled, never inside the request)."""

    rows: list[PreviewRow]
    judge_preview: JudgePreview | None = None


def evaluator_preview(*, project: Project, spec: EvaluatorSpec, limit: int = 20) -> Preview:
    """Run an unsaved evaluator on the project's most recent traces, storing no scores; judges grade at most 3
    traces in a background job (the LLM never runs in the web request)."""
    config, _, filters = _checked(project, spec)
    draft = Evaluator(
        project=project,
        name=spec.name or "preview",
        kind=spec.kind,
        config=config,
        filters=filters,
        sample_rate=1.0,
        judge=spec.judge,
    )
    traces = list(Trace.objects.filter(project=project).order_by("-started_at", "-id")[:limit])
    subjects = subjects_build(trace_pks=[t.id for t in traces])
    rows = []
    judged: list[tuple[int, str, JudgeInput]] = []
    for trace in traces:
        subject = subjects[trace.id]
        if not _applies(draft, subject):
            rows.append(PreviewRow(trace=trace, result=None, applies=False))
            continue
        if draft.is_judge:
            if len(judged) < 3:
                judged.append((trace.id, trace.trace_id, _judge_input(subject)))
            continue
        try:
            rows.append(PreviewRow(trace=trace, result=run_check(draft.kind, config, subject), applies=True))
        except Exception as exc:  # noqa: BLE001 - a preview shows a broken check's error on its row
            rows.append(PreviewRow(trace=trace, result=None, applies=True, error=str(exc)))
    job = None
    if judged:
        job = judge_preview_start(project=project, judge=draft.judge, rubric=rubric_for(config), items=judged)
    return Preview(rows=rows, judge_preview=job)


BACKFILL_JOB = RowJob(
    model=Backfill,
    time_limit=settings.BACKFILL_TASK_TIME_LIMIT,
    in_flight=60,
    max_attempts=settings.BACKFILL_MAX_ATTEMPTS,
    claimed_at="claimed_at",
)


@dataclass(frozen=True)
class BackfillStep:
    """What one chunk task did: whether chunks remain, and for a live claim elsewhere when to look again."""

    more: bool
    wait: float = 0.0


def backfill_start(*, evaluator: Evaluator, since: datetime, until: datetime) -> Backfill:
    """Create a backfill of one evaluator over a time range and enqueue it after commit."""
    if until <= since:
        raise ValidationError({"until": "must be after since"})
    total = Trace.objects.filter(project_id=evaluator.project_id, started_at__gte=since, started_at__lt=until).count()
    backfill = Backfill.objects.create(
        project_id=evaluator.project_id,
        evaluator=evaluator,
        evaluator_version=evaluator.version,
        since=since,
        until=until,
        total=total,
    )
    transaction.on_commit(lambda: backfill_enqueue(backfill_id=backfill.id))
    return backfill


RESCORE_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}


def evaluator_rescore(*, evaluator: Evaluator, window: str, now: datetime | None = None) -> Backfill:
    """Re-score the last `window` of traffic with the evaluator's current version (one click on the evaluators page).

    A second click while a re-score of the same version runs returns that one instead of starting another.
    """
    if window not in RESCORE_WINDOWS:
        raise ValidationError({"window": f"unknown window {window!r}; use {', '.join(RESCORE_WINDOWS)}"})
    if evaluator.is_judge:
        # A judge re-score costs model calls: that stays a deliberate backfill with a chosen range.
        raise ValidationError({"evaluator": "one-click re-score is for programmatic evaluators; backfill a judge"})
    evaluator_version_sync(evaluator=evaluator)
    running = (
        Backfill.objects.filter(evaluator=evaluator, evaluator_version=evaluator.version)
        .exclude(status__in=[Backfill.Status.DONE, Backfill.Status.FAILED])
        .order_by("-created_at")
        .first()
    )
    if running is not None:
        return running
    until = now or timezone.now()
    return backfill_start(evaluator=evaluator, since=until - RESCORE_WINDOWS[window], until=until)


def backfill_enqueue(*, backfill_id: int) -> bool:
    """Send the backfill's next chunk job; if the broker is down, mark it unsent for backfills_sweep."""
    from apps.evaluators.tasks import backfill_run_task

    if task_enqueue(backfill_run_task, backfill_id):
        return True
    job_mark_sent(BACKFILL_JOB, row_ids=[backfill_id], sent=False)
    return False


def backfill_step(*, backfill_id: int, chunk: int = 500) -> BackfillStep:
    """Claim the backfill, evaluate its next chunk of traces and release it; `more` when chunks remain.

    Between chunks the backfill is running with no claim, so the next chunk's job (or, after a worker
    died, its redelivery or the sweep) claims it again.
    """
    claim = job_claim(BACKFILL_JOB, row_id=backfill_id)
    if claim.outcome is Outcome.BUSY:
        return BackfillStep(more=False, wait=claim.wait)
    if claim.outcome is Outcome.GONE:
        return BackfillStep(more=False)
    token = claim.token
    backfill = Backfill.objects.select_related("evaluator").get(id=backfill_id)
    evaluator = backfill.evaluator
    if evaluator.version != backfill.evaluator_version:
        job_finish(
            BACKFILL_JOB,
            row_id=backfill_id,
            token=token,
            status=Backfill.Status.FAILED,
            error="the evaluator changed; start a new backfill",
            finished_at=timezone.now(),
        )
        return BackfillStep(more=False)
    pks = list(
        Trace.objects.filter(
            project_id=backfill.project_id,
            started_at__gte=backfill.since,
            started_at__lt=backfill.until,
            id__gt=backfill.last_trace_pk,
        )
        .order_by("id")
        .values_list("id", flat=True)[:chunk]
    )
    if not pks:
        job_finish(BACKFILL_JOB, row_id=backfill_id, token=token, finished_at=timezone.now(), processed=F("total"))
        return BackfillStep(more=False)
    try:
        with transaction.atomic():
            written = evaluations_run(project_id=backfill.project_id, trace_pks=pks, evaluators=[evaluator])
            if not evaluator.is_judge:
                # The new version's scores replace the old ones, so charts count each trace once.
                scores_supersede(
                    project=Project(id=backfill.project_id),
                    trace_pks=pks,
                    name=evaluator.name,
                    source=Score.Source.PROGRAMMATIC,
                    keep_version=evaluator.version,
                )
    except Exception as exc:
        # Hand the chunk back (failed after BACKFILL_MAX_ATTEMPTS) and propagate: a soft time limit is never swallowed.
        job_release(BACKFILL_JOB, row_id=backfill_id, token=token, error=f"{type(exc).__name__}: {exc}")
        raise
    # Release the claim with the cursor moved: conditional on our claim, so a chunk never counts twice.
    job_finish(
        BACKFILL_JOB,
        row_id=backfill_id,
        token=token,
        status=Backfill.Status.RUNNING,
        claimed_at=None,
        attempts=0,
        error="",
        last_trace_pk=pks[-1],
        processed=F("processed") + len(pks),
        scored=F("scored") + written,
        updated_at=timezone.now(),
        enqueued_at=timezone.now(),  # the next chunk's job is sent right after
    )
    return BackfillStep(more=True)


def backfills_sweep(*, limit: int = 100) -> list[int]:
    """Send a chunk job for backfills with none in flight (broker outage, worker killed, chunk handed back)."""
    return job_sweep(BACKFILL_JOB, send=lambda backfill_id: backfill_enqueue(backfill_id=backfill_id), limit=limit)


# -- dead letters ----------------------------------------------------------------------------------

DEAD_LETTER_KINDS = ("batch", "judge")


def dead_letter_act(*, project: Project, kind: str, row_id: int, action: str) -> bool:
    """Retry (back to pending, job sent after commit) or discard one failed ingest batch or judge request.

    Conditional on the row being failed and the project's: False when it no longer is (a double click).
    """
    if kind not in DEAD_LETTER_KINDS:
        raise ValidationError({"kind": f"unknown kind {kind!r}; use {', '.join(DEAD_LETTER_KINDS)}"})
    if action not in ("retry", "discard"):
        raise ValidationError({"action": f"unknown action {action!r}; use retry or discard"})
    if kind == "batch":
        act = ingest_batch_retry if action == "retry" else ingest_batch_discard
        return act(project=project, batch_id=row_id)
    act = judge_request_retry if action == "retry" else judge_request_discard
    return act(project=project, request_id=row_id)
