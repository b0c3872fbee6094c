"""Writes and rules for evaluators: definitions, running them on batches, judge requests, backfills."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.queue import task_enqueue
from apps.evaluators.checks import CHECKS, CheckConfigError, run_check
from apps.evaluators.models import Backfill, Evaluator, JudgeRequest
from apps.evaluators.selectors import config_version, sampled, subjects_build
from apps.evaluators.subject import CheckResult, Subject
from apps.judges.llm import JudgeClient, JudgeInput, JudgeOutputInvalid, JudgeUnavailable
from apps.judges.models import Judge
from apps.judges.rubrics import BUILTIN_RUBRICS, Rubric, custom_rubric
from apps.judges.services import judge_client_for
from apps.projects.models import Project
from apps.scores.models import Score
from apps.scores.services import ScoreInput, scores_upsert
from apps.traces.models import Trace

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
        return cleaned, config_version(kind=kind, config=cleaned, extra=f"{judge.model}|{rubric.version}")
    if kind not in CHECKS:
        raise ValidationError({"kind": f"unknown kind {kind!r}"})
    try:
        cleaned = CHECKS[kind].validate_config(dict(config or {}))
    except CheckConfigError as exc:
        raise ValidationError({f"config.{exc.field}" if exc.field else "config": exc.message}) from exc
    return cleaned, config_version(kind=kind, config=cleaned)


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
    return Evaluator.objects.create(
        project=project,
        name=spec.name,
        kind=spec.kind,
        is_default=is_default,
        **_changeable_fields(spec, config, version, filters),
    )


def evaluator_update(*, evaluator: Evaluator, spec: EvaluatorSpec) -> Evaluator:
    """Change an evaluator; its version changes when what it computes changes (name and kind are fixed)."""
    if spec.kind != evaluator.kind:
        raise ValidationError({"kind": "the kind of an evaluator cannot change; create another one"})
    config, version, filters = _checked(evaluator.project, spec)
    Evaluator.objects.filter(id=evaluator.id).update(
        updated_at=timezone.now(), **_changeable_fields(spec, config, version, filters)
    )
    evaluator.refresh_from_db()
    return evaluator


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


def evaluate_subjects(
    *, evaluators: Sequence[Evaluator], subjects: dict[int, Subject]
) -> tuple[list[ScoreInput], list[tuple[Evaluator, int]]]:
    """Run programmatic evaluators on subjects; return their scores and the (judge evaluator, trace) pairs sampled."""
    scores: list[ScoreInput] = []
    judged: list[tuple[Evaluator, int]] = []
    for evaluator in evaluators:
        # Stored configs were validated when saved: run the check directly, not through run_check.
        check = None if evaluator.is_judge else CHECKS.get(evaluator.kind)
        # Without filters every trace applies, and at rate 1 every trace is sampled: skip both per-trace calls.
        filtered = bool(evaluator.filters)
        everything = evaluator.sample_rate >= 1.0
        for trace_pk, subject in subjects.items():
            if filtered and not _applies(evaluator, subject):
                continue
            if not everything and not sampled(
                trace_id=subject.trace_id, evaluator_name=evaluator.name, rate=evaluator.sample_rate
            ):
                continue
            if evaluator.is_judge:
                judged.append((evaluator, trace_pk))
                continue
            if check is None:
                continue
            try:
                if not check.applies(subject, evaluator.config):
                    continue
                result = check.run(subject, evaluator.config)
            except Exception:  # noqa: BLE001 - one broken check must not stop the others
                logger.exception("evaluator %s failed on trace %s", evaluator.name, subject.trace_id)
                continue
            scores.append(_score_from(evaluator, trace_pk, result))
    return scores, judged


def evaluations_run(*, project_id: int, trace_pks: Sequence[int], evaluators: Sequence[Evaluator] | None = None) -> int:
    """Score traces with the project's enabled evaluators; queue sampled judge calls. Return scores written."""
    # Only the id is needed to score; no query for the project row on the hot path.
    project = Project(id=project_id)
    if evaluators is None:
        evaluators = list(Evaluator.objects.filter(project_id=project_id, is_enabled=True).select_related("judge"))
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

    def enqueue() -> None:
        from apps.evaluators.tasks import judge_request_run_task

        for request_id in ids:
            if not task_enqueue(judge_request_run_task, request_id):
                return  # the broker is down: the sweeper sends the rest

    transaction.on_commit(enqueue)
    return ids


class JudgeBusy(Exception):
    """The project already has its maximum of judge calls in flight; try again shortly."""


def _judge_input(subject: Subject) -> JudgeInput:
    return JudgeInput(
        question=subject.input,
        answer=subject.output,
        contexts=[d.content for d in subject.documents],
        system_prompt=subject.system_prompt,
    )


def _judge_claim(request_id: int) -> JudgeRequest | None:
    """Move a pending request to running if its project is under the concurrency limit (row locks serialize)."""
    with transaction.atomic():
        request = JudgeRequest.objects.select_for_update().filter(id=request_id).first()
        if request is None or request.status != JudgeRequest.Status.PENDING:
            return None  # finished, failed, or another worker has it: a redelivery is a no-op
        # Lock the project row so concurrent claims of one project count each other.
        Project.objects.select_for_update().filter(id=request.project_id).first()
        stale = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
        running = JudgeRequest.objects.filter(
            project_id=request.project_id, status=JudgeRequest.Status.RUNNING, started_at__gte=stale
        ).count()
        if running >= settings.JUDGE_MAX_CONCURRENCY_PER_PROJECT:
            raise JudgeBusy(f"{running} judge calls already running for project {request.project_id}")
        JudgeRequest.objects.filter(id=request_id).update(
            status=JudgeRequest.Status.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1
        )
    return JudgeRequest.objects.select_related("evaluator__judge", "project").get(id=request_id)


def judge_request_run(*, request_id: int, client: JudgeClient | None = None) -> str:
    """Grade one sampled trace with its judge evaluator and store the verdict as a score. Return the new status."""
    request = _judge_claim(request_id)
    if request is None:
        return "skipped"
    evaluator = request.evaluator
    subject = subjects_build(trace_pks=[request.trace_id]).get(request.trace_id)
    if subject is None or evaluator.judge is None:
        _judge_finish(request_id, JudgeRequest.Status.FAILED, "trace or judge no longer exists")
        return JudgeRequest.Status.FAILED
    rubric = rubric_for(evaluator.config)
    owned = client is None
    judge = client or judge_client_for(evaluator.judge)
    try:
        verdict = judge.grade(rubric=rubric, item=_judge_input(subject))
    except JudgeUnavailable:
        # Hand the row back so the Celery retry can claim it again.
        JudgeRequest.objects.filter(id=request_id, status=JudgeRequest.Status.RUNNING).update(
            status=JudgeRequest.Status.PENDING
        )
        raise
    except JudgeOutputInvalid as exc:
        _judge_finish(request_id, JudgeRequest.Status.FAILED, f"judge output invalid: {exc}"[:2000])
        return JudgeRequest.Status.FAILED
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
        _judge_finish(request_id, JudgeRequest.Status.DONE, "")
    return JudgeRequest.Status.DONE


def _judge_finish(request_id: int, status: str, error: str) -> None:
    JudgeRequest.objects.filter(id=request_id, status=JudgeRequest.Status.RUNNING).update(
        status=status, error=error, finished_at=timezone.now()
    )


def judge_request_fail(*, request_id: int, error: str) -> None:
    """Record that a request ran out of retries (the judge stayed unavailable)."""
    JudgeRequest.objects.filter(
        id=request_id, status__in=[JudgeRequest.Status.PENDING, JudgeRequest.Status.RUNNING]
    ).update(status=JudgeRequest.Status.FAILED, error=error[:2000], finished_at=timezone.now())


def judge_requests_sweep(*, older_than: timedelta = timedelta(minutes=15), limit: int = 500) -> list[int]:
    """Re-enqueue pending requests that were never delivered, and free ones stuck running past the time limit.

    `older_than` exceeds the longest retry backoff (10 minutes), so a request waiting out its own
    countdown is not sent twice.
    """
    now = timezone.now()
    stuck = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    JudgeRequest.objects.filter(status=JudgeRequest.Status.RUNNING, started_at__lt=stuck).update(
        status=JudgeRequest.Status.PENDING
    )
    ids = list(
        JudgeRequest.objects.filter(status=JudgeRequest.Status.PENDING, created_at__lt=now - older_than)
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    from apps.evaluators.tasks import judge_request_run_task

    for request_id in ids:
        if not task_enqueue(judge_request_run_task, request_id):
            break
    return ids


# -- preview and backfill --------------------------------------------------------------------------


@dataclass
class PreviewRow:
    """One recent trace with what the evaluator would have scored."""

    trace: Trace
    result: CheckResult | None
    applies: bool
    error: str = ""


def evaluator_preview(*, project: Project, spec: EvaluatorSpec, limit: int = 20) -> list[PreviewRow]:
    """Run an unsaved evaluator on the project's most recent traces (judges on at most 3), storing nothing."""
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
    judged = 0
    for trace in traces:
        subject = subjects[trace.id]
        if not _applies(draft, subject):
            rows.append(PreviewRow(trace=trace, result=None, applies=False))
            continue
        if draft.is_judge:
            if judged >= 3:
                continue
            judged += 1
            rows.append(_preview_judge(draft, trace, subject))
            continue
        try:
            rows.append(PreviewRow(trace=trace, result=run_check(draft.kind, config, subject), applies=True))
        except Exception as exc:  # noqa: BLE001
            rows.append(PreviewRow(trace=trace, result=None, applies=True, error=str(exc)))
    return rows


def _preview_judge(draft: Evaluator, trace: Trace, subject: Subject) -> PreviewRow:
    rubric = rubric_for(draft.config)
    client = judge_client_for(draft.judge)
    try:
        verdict = client.grade(rubric=rubric, item=_judge_input(subject))
    except (JudgeUnavailable, JudgeOutputInvalid) as exc:
        return PreviewRow(trace=trace, result=None, applies=True, error=str(exc))
    finally:
        client.close()
    result = CheckResult(value=verdict.score, passed=verdict.passed, label=verdict.label, explanation=verdict.reason)
    return PreviewRow(trace=trace, result=result, applies=True)


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

    def enqueue() -> None:
        from apps.evaluators.tasks import backfill_run_task

        task_enqueue(backfill_run_task, backfill.id)  # if the broker is down, backfills_sweep starts it

    transaction.on_commit(enqueue)
    return backfill


def backfill_step(*, backfill_id: int, chunk: int = 500) -> bool:
    """Evaluate the next chunk of a backfill's traces; return True when more remain."""
    Backfill.objects.filter(id=backfill_id, status=Backfill.Status.PENDING).update(status=Backfill.Status.RUNNING)
    backfill = Backfill.objects.select_related("evaluator").filter(id=backfill_id).first()
    if backfill is None or backfill.status != Backfill.Status.RUNNING:
        return False
    evaluator = backfill.evaluator
    if evaluator.version != backfill.evaluator_version:
        Backfill.objects.filter(id=backfill_id).update(
            status=Backfill.Status.FAILED,
            error="the evaluator changed; start a new backfill",
            finished_at=timezone.now(),
        )
        return False
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
        Backfill.objects.filter(id=backfill_id, status=Backfill.Status.RUNNING).update(
            status=Backfill.Status.DONE, finished_at=timezone.now(), processed=F("total")
        )
        return False
    written = evaluations_run(project_id=backfill.project_id, trace_pks=pks, evaluators=[evaluator])
    # Conditional on the cursor: a duplicate delivery of the same step does not count twice.
    Backfill.objects.filter(id=backfill_id, last_trace_pk=backfill.last_trace_pk).update(
        last_trace_pk=pks[-1],
        processed=F("processed") + len(pks),
        scored=F("scored") + written,
        updated_at=timezone.now(),
    )
    return True


def backfills_sweep(*, idle_for: timedelta = timedelta(minutes=10), limit: int = 100) -> list[int]:
    """Re-enqueue backfills whose chain of chunk tasks was lost (broker outage, worker killed)."""
    idle = timezone.now() - idle_for
    ids = list(
        Backfill.objects.filter(
            status__in=[Backfill.Status.PENDING, Backfill.Status.RUNNING], updated_at__lt=idle
        ).values_list("id", flat=True)[:limit]
    )
    from apps.evaluators.tasks import backfill_run_task

    for backfill_id in ids:
        if not task_enqueue(backfill_run_task, backfill_id):
            break
    return ids
