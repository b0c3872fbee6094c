"""Calibration: a judge version grades the human-labeled traces, and its agreement with people is recorded per day.

Steps of one run (`calibration_run`):
1. claim the run row (pending → running, conditional UPDATE: a second delivery does nothing);
2. read the calibration set: each labeled trace's human consensus (its `human_verdict` score), random sample and
   routed kept apart (apps.review.selectors.human_consensus_list);
3. grade the traces this version has not graded yet, storing one CalibrationVerdict each (a permanent judge error
   is stored too, so the trace is not retried forever; an outage ends the run, and the next one resumes);
4. recompute the AgreementDay rows of the days it graded on, and the version's baseline once it has enough
   random-sample verdicts.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.queue import task_enqueue
from apps.judges.llm import JudgeClient, JudgeInput, JudgeOutputInvalid, JudgeUnavailable, OpenAIJudge
from apps.judges.models import AgreementDay, CalibrationRun, CalibrationVerdict, Judge, JudgeVersion, ShadowVerdict
from apps.judges.services import (
    judge_config_for_version,
    judge_judgment_count,
    judge_version_current,
    judge_version_rubric,
    model_mismatch,
)
from apps.review.agreement import binary_agreement
from apps.review.selectors import RANDOM, human_consensus_list
from apps.traces.models import Trace

# Provider families by model-name prefix: "is the answer from the judge's own family" is a bias probe.
FAMILY_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt", "openai"),
    ("chatgpt", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("text-davinci", "openai"),
    ("claude", "anthropic"),
    ("gemini", "google"),
    ("gemma", "google"),
    ("llama", "meta"),
    ("mistral", "mistral"),
    ("mixtral", "mistral"),
    ("codestral", "mistral"),
    ("ministral", "mistral"),
    ("qwen", "qwen"),
    ("deepseek", "deepseek"),
    ("command", "cohere"),
)


def model_family(model: str) -> str:
    """Return a model's provider family from its name (`openai/gpt-4o-mini` → openai); "" when unknown/empty."""
    name = (model or "").strip().lower().rsplit("/", 1)[-1]
    if not name:
        return ""
    for prefix, family in FAMILY_PREFIXES:
        if name.startswith(prefix):
            return family
    match = re.match(r"[a-z]+", name)
    return match.group(0) if match else name


def calibration_start(*, judge_version: JudgeVersion, trigger: str = "manual") -> CalibrationRun:
    """Queue a calibration run of a version (after commit); return the open run if one is pending or running.

    A run left running past the task's time limit (a dead worker) is marked failed first, so it blocks nothing.
    """
    stale = timezone.now() - timedelta(seconds=settings.JUDGE_CALIBRATION_TIME_LIMIT + 60)
    CalibrationRun.objects.filter(
        judge_version=judge_version, status=CalibrationRun.Status.RUNNING, started_at__lt=stale
    ).update(status=CalibrationRun.Status.FAILED, error="worker lost", finished_at=timezone.now())
    try:
        with transaction.atomic():
            run = CalibrationRun.objects.create(
                project_id=judge_version.project_id, judge_version=judge_version, trigger=trigger
            )
    except IntegrityError:  # calibrationrun_one_open: one is queued or running already
        return CalibrationRun.objects.filter(
            judge_version=judge_version, status__in=[CalibrationRun.Status.PENDING, CalibrationRun.Status.RUNNING]
        ).first() or calibration_start(judge_version=judge_version, trigger=trigger)
    transaction.on_commit(lambda: calibration_enqueue(run_id=run.id))
    return run


def calibration_enqueue(*, run_id: int) -> bool:
    """Send a run's job; a broker outage leaves it pending for the daily sweep."""
    from apps.judges.tasks import calibration_run_task

    return task_enqueue(calibration_run_task, run_id)


def calibrations_daily() -> list[int]:
    """Queue a run for the current and shadow versions of every active judge (the daily beat job)."""
    runs = []
    # The embeddings endpoint of implicit feedback is a Judge row too, but it grades nothing.
    for judge in Judge.objects.filter(is_active=True).exclude(name=settings.FEEDBACK_EMBEDDINGS_JUDGE or None):
        judge_version_current(judge=judge)
        for version in JudgeVersion.objects.filter(
            judge=judge, status__in=[JudgeVersion.Status.CURRENT, JudgeVersion.Status.SHADOW]
        ):
            runs.append(calibration_start(judge_version=version, trigger="daily").id)
    # Pending runs whose job never left (a broker outage at the time) are sent again.
    for run_id in CalibrationRun.objects.filter(status=CalibrationRun.Status.PENDING).values_list("id", flat=True):
        calibration_enqueue(run_id=run_id)
    return runs


def _judge_input(trace: Trace) -> JudgeInput:
    return JudgeInput(question=trace.input_text, answer=trace.output_text)


def calibration_run(*, run_id: int, client: JudgeClient | None = None) -> CalibrationRun | None:
    """Grade the version's ungraded human-labeled traces and record agreement; None if another worker has the run."""
    claimed = CalibrationRun.objects.filter(id=run_id, status=CalibrationRun.Status.PENDING).update(
        status=CalibrationRun.Status.RUNNING, started_at=timezone.now()
    )
    if claimed != 1:
        return None
    run = CalibrationRun.objects.select_related("judge_version__judge").get(id=run_id)
    version = run.judge_version
    owned = client is None
    judge = client or OpenAIJudge(judge_config_for_version(version))
    try:
        scored, failed, outage = _grade_pending(run, version, judge)
        if not outage and version.status == JudgeVersion.Status.SHADOW and settings.JUDGE_SHADOW_LIVE_SAMPLE > 0:
            outage = _grade_live_sample(version, judge, client, limit=settings.JUDGE_SHADOW_LIVE_SAMPLE)
    except Exception as exc:
        # A soft time limit (or anything unexpected) ends the run as failed and propagates: never swallowed.
        _run_finish(run, CalibrationRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    finally:
        if owned:
            judge.close()  # type: ignore[attr-defined]
    agreement_days_refresh(judge_version=version)
    baseline_set_if_ready(judge_version=version)
    status = CalibrationRun.Status.FAILED if outage else CalibrationRun.Status.DONE
    _run_finish(run, status, scored=scored, failed=failed, error=outage)
    run.refresh_from_db()
    return run


def _run_finish(run: CalibrationRun, status: str, *, scored: int = 0, failed: int = 0, error: str = "") -> None:
    CalibrationRun.objects.filter(id=run.id).update(
        status=status, scored=scored, failed=failed, error=error, finished_at=timezone.now()
    )


def _grade_pending(run: CalibrationRun, version: JudgeVersion, judge: JudgeClient) -> tuple[int, int, str]:
    """Grade what the version has not graded; return (scored, failed permanently, outage message or "")."""
    done = set(CalibrationVerdict.objects.filter(judge_version=version).values_list("trace_pk", flat=True))
    todo = [c for c in human_consensus_list(project=version.judge.project) if c.trace_pk not in done]
    todo = todo[: settings.JUDGE_CALIBRATION_MAX_ITEMS]
    CalibrationRun.objects.filter(id=run.id).update(total=len(todo))
    traces = Trace.objects.filter(project_id=version.project_id, id__in=[c.trace_pk for c in todo]).only(
        "id", "trace_id", "input_text", "output_text", "model"
    )
    by_pk = {t.id: t for t in traces}
    rubric = judge_version_rubric(version)
    family = model_family(version.model)
    scored = failed = 0
    for label in todo:
        trace = by_pk.get(label.trace_pk)
        if trace is None:  # pruned by retention since it was labeled (its scores go with it: a race at most)
            continue
        row = CalibrationVerdict(
            project_id=version.project_id,
            judge_version=version,
            trace_pk=label.trace_pk,
            trace_id=trace.trace_id,
            sample=label.sample,
            human_passed=label.passed,
            answer_chars=len(trace.output_text),
            answer_model=trace.model[:200],
            is_same_family=bool(family) and model_family(trace.model) == family,
            judged_at=timezone.now(),
        )
        try:
            verdict = judge.grade(rubric=rubric, item=_judge_input(trace))
        except JudgeUnavailable as exc:
            return scored, failed, f"judge unavailable after {scored} verdicts (the next run resumes): {exc}"
        except JudgeOutputInvalid as exc:
            row.error = str(exc)[:2000]
            failed += 1
        else:
            row.judge_passed, row.judge_label = verdict.passed, verdict.label
            row.confidence, row.reason = verdict.confidence, verdict.reason[:2000]
            row.model_reported = verdict.model_reported[:200]
            row.is_model_mismatch = model_mismatch(pinned=version.model, reported=verdict.model_reported)
            judge_judgment_count(
                version_id=version.id, model_pinned=version.model, model_reported=verdict.model_reported
            )
            scored += 1
        CalibrationVerdict.objects.bulk_create([row], ignore_conflicts=True)  # a concurrent run graded it
        CalibrationRun.objects.filter(id=run.id).update(scored=scored, failed=failed)
    return scored, failed, ""


def _grade_live_sample(version: JudgeVersion, shadow: JudgeClient, client: JudgeClient | None, *, limit: int) -> str:
    """Have the shadow and the current version both grade recent live traces; return an outage message or "".

    Both grade with their own calibration rubric, so the comparison is version against version on live traffic
    (no human involved); traces are the project's latest answers of the last day not yet compared.
    """
    current = judge_version_current(judge=version.judge)
    since = timezone.now() - timedelta(days=1)
    seen = ShadowVerdict.objects.filter(judge_version=version).values("trace_pk")
    traces = list(
        Trace.objects.filter(project_id=version.project_id, started_at__gte=since)
        .exclude(output_text="")
        .exclude(id__in=seen)
        .order_by("-started_at")
        .only("id", "input_text", "output_text")[:limit]
    )
    owned = client is None
    live = client or OpenAIJudge(judge_config_for_version(current))
    try:
        for trace in traces:
            item = _judge_input(trace)
            try:
                current_verdict = live.grade(rubric=judge_version_rubric(current), item=item)
            except JudgeOutputInvalid:
                continue  # nothing to compare with
            row = ShadowVerdict(
                project_id=version.project_id,
                judge_version=version,
                current_number=current.number,
                trace_pk=trace.id,
                current_passed=current_verdict.passed,
                judged_at=timezone.now(),
            )
            try:
                row.shadow_passed = shadow.grade(rubric=judge_version_rubric(version), item=item).passed
            except JudgeOutputInvalid as exc:
                row.error = str(exc)[:2000]
            ShadowVerdict.objects.bulk_create([row], ignore_conflicts=True)
    except JudgeUnavailable as exc:
        return f"judge unavailable during the live sample (the next run resumes): {exc}"
    finally:
        if owned:
            live.close()  # type: ignore[attr-defined]
    return ""


def agreement_days_refresh(*, judge_version: JudgeVersion, days: list[date] | None = None) -> int:
    """Recompute the version's AgreementDay rows (each UTC day it graded on, per sample); return rows written."""
    verdicts = CalibrationVerdict.objects.filter(judge_version=judge_version, judge_passed__isnull=False)
    grouped: dict[tuple[date, str], list[tuple[bool, bool]]] = {}
    for judged_at, sample, judge_passed, human_passed in verdicts.values_list(
        "judged_at", "sample", "judge_passed", "human_passed"
    ):
        day = judged_at.astimezone(UTC).date()
        if days is None or day in days:
            grouped.setdefault((day, sample), []).append((judge_passed, human_passed))
    for (day, sample), pairs in grouped.items():
        stats = binary_agreement(pairs)
        AgreementDay.objects.update_or_create(
            judge_version=judge_version,
            day=day,
            sample=sample,
            defaults={
                "project_id": judge_version.project_id,
                "n": stats.n,
                "tp": stats.tp,
                "fp": stats.fp,
                "fn": stats.fn,
                "tn": stats.tn,
                "accuracy": stats.accuracy,
                "kappa": stats.kappa,
                "kappa_low": stats.kappa_low,
                "kappa_high": stats.kappa_high,
                "tpr": stats.tpr,
                "tnr": stats.tnr,
            },
        )
    return len(grouped)


def baseline_set_if_ready(*, judge_version: JudgeVersion, now: datetime | None = None) -> bool:
    """Freeze the version's baseline (κ, accuracy over its random-sample verdicts) once it has enough of them."""
    if judge_version.baseline_kappa is not None:
        return False
    pairs = list(
        CalibrationVerdict.objects.filter(
            judge_version=judge_version, sample=RANDOM, judge_passed__isnull=False
        ).values_list("judge_passed", "human_passed")
    )
    stats = binary_agreement(pairs)
    if stats.n < settings.JUDGE_BASELINE_MIN_LABELS or stats.kappa is None:
        return False
    return bool(
        JudgeVersion.objects.filter(id=judge_version.id, baseline_kappa__isnull=True).update(
            baseline_kappa=stats.kappa,
            baseline_accuracy=stats.accuracy,
            baseline_n=stats.n,
            baseline_at=now or timezone.now(),
        )
    )
