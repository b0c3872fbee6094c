"""Writes of offline runs: record a run, and score its items with the project's online evaluators in a worker.

Items are scored by the same evaluator rows that score live traffic (same kind, config, version, judge and
rubric), through the same checks and the same judge client, so an offline pass rate and an online one mean
the same thing. Each job claims the run (apps/core/jobs.py), scores a chunk of items, and hands the run back
for the next chunk; the last job computes the run's metrics.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.core.jobs import Outcome, RowJob, job_claim, job_finish, job_mark_sent, job_release, job_sweep
from apps.core.queue import task_enqueue
from apps.datasets.models import Dataset, OfflineMetric, OfflineRun, OfflineRunItem
from apps.evaluators.models import Evaluator
from apps.evaluators.services import evaluate_subjects, rubric_for
from apps.evaluators.subject import Document, Subject
from apps.judges.llm import JudgeInput, JudgeOutputInvalid, JudgeUnavailable, retry_delay
from apps.judges.services import judge_client_for
from apps.projects.models import Project
from apps.scores.selectors import metric_spec_get

MAX_ITEMS = 5000
CHUNK = 500  # items per job with programmatic checks only
JUDGED_CHUNK = 10  # with a judge: each item is an LLM call, and a job must end well within its time limit

OFFLINE_RUN_JOB = RowJob(
    model=OfflineRun,
    time_limit=settings.OFFLINE_RUN_TASK_TIME_LIMIT,
    in_flight=60,
    max_attempts=settings.OFFLINE_RUN_MAX_ATTEMPTS,
)


@dataclass(frozen=True)
class RunItemInput:
    """One example of an offline run, as the suite produced it."""

    input: str
    output: str
    context: list[dict[str, str]]
    expected: str = ""


@dataclass(frozen=True)
class MetricInput:
    """A metric the suite computed itself: its headline value (a pass rate as 0–1) and optional item count."""

    name: str
    value: float
    count: int | None = None


@transaction.atomic
def offline_run_create(
    *,
    project: Project,
    name: str,
    prompt_version: str,
    model: str = "",
    git_revision: str = "",
    dataset: Dataset | None = None,
    items: Sequence[RunItemInput] | None = None,
    metrics: Sequence[MetricInput] | None = None,
) -> OfflineRun:
    """Record an offline run: items are scored by a worker after commit; precomputed metrics are stored as is."""
    if (items is None) == (metrics is None):
        raise ValidationError({"items": "send either items (scored here) or metrics (scored elsewhere), not both"})
    if dataset is not None and dataset.project_id != project.id:
        raise ValidationError({"dataset": "no such dataset in this project"})
    if items is not None and not 1 <= len(items) <= MAX_ITEMS:
        raise ValidationError({"items": f"send 1 to {MAX_ITEMS} items"})
    if metrics is not None:
        if not metrics:
            raise ValidationError({"metrics": "send at least one metric"})
        names = [m.name for m in metrics]
        if len(set(names)) != len(names):
            raise ValidationError({"metrics": "each metric once"})
    now = timezone.now()
    run = OfflineRun.objects.create(
        project=project,
        name=name,
        dataset=dataset,
        dataset_version=dataset.version if dataset is not None else None,
        model=model,
        prompt_version=prompt_version,
        git_revision=git_revision,
        mode=OfflineRun.Mode.ITEMS if items is not None else OfflineRun.Mode.METRICS,
        items_total=len(items) if items is not None else 0,
        status=OfflineRun.Status.PENDING if items is not None else OfflineRun.Status.DONE,
        finished_at=None if items is not None else now,
    )
    if metrics is not None:
        OfflineMetric.objects.bulk_create(
            OfflineMetric(
                project=project,
                run=run,
                name=m.name,
                value=m.value,
                count=m.count,
                model=model,
                prompt_version=prompt_version,
                measured_at=now,
            )
            for m in metrics
        )
        return run
    OfflineRunItem.objects.bulk_create(
        OfflineRunItem(run=run, index=i, input=it.input, output=it.output, context=it.context, expected=it.expected)
        for i, it in enumerate(items or [])
    )
    transaction.on_commit(lambda: offline_run_enqueue(run_id=run.id))
    return run


def offline_run_enqueue(*, run_id: int) -> bool:
    """Send the run's next scoring job; if the broker is down, mark it unsent for the sweeper."""
    from apps.datasets.tasks import offline_run_score_task

    if task_enqueue(offline_run_score_task, run_id):
        return True
    job_mark_sent(OFFLINE_RUN_JOB, row_ids=[run_id], sent=False)
    return False


def offline_runs_sweep(*, limit: int = 100) -> list[int]:
    """Send a job for runs with none in flight (broker outage, worker killed, chunk handed back)."""
    return job_sweep(OFFLINE_RUN_JOB, send=lambda run_id: offline_run_enqueue(run_id=run_id), limit=limit)


class OfflineRunRetry(Exception):
    """The judge was unavailable: the run was handed back and its next job is due in `countdown` seconds."""

    def __init__(self, countdown: float) -> None:
        super().__init__(f"judge unavailable; retry in {countdown:.0f} s")
        self.countdown = countdown


@dataclass(frozen=True)
class OfflineStep:
    """What one job did: whether chunks remain, and for a live claim elsewhere when to look again."""

    more: bool
    wait: float = 0.0


def _evaluator_record(ev: Evaluator) -> dict[str, Any]:
    return {
        "id": ev.id,
        "name": ev.name,
        "kind": ev.kind,
        "version": ev.version,
        "judge_model": ev.judge.model if ev.judge is not None else "",
    }


def _run_evaluators(run: OfflineRun) -> list[Evaluator]:
    """The evaluators scoring the run: the project's enabled ones when it starts, the same rows and versions after
    (an evaluator edited mid-run raises ValueError: its scores would mix two versions)."""
    if not run.evaluators:
        evaluators = list(
            Evaluator.objects.filter(project_id=run.project_id, is_enabled=True)
            .select_related("judge")
            .order_by("name")
        )
        OfflineRun.objects.filter(id=run.id).update(evaluators=[_evaluator_record(ev) for ev in evaluators])
        return evaluators
    by_id = Evaluator.objects.select_related("judge").in_bulk([e["id"] for e in run.evaluators])
    evaluators = []
    for record in run.evaluators:
        ev = by_id.get(record["id"])
        if ev is None or ev.version != record["version"]:
            raise ValueError(f"the evaluator {record['name']} changed during the run; post the run again")
        evaluators.append(ev)
    return evaluators


def _subject(run: OfflineRun, item: OfflineRunItem) -> Subject:
    documents = [
        Document(id=str(d.get("id") or i), content=str(d.get("content") or "")) for i, d in enumerate(item.context)
    ]
    return Subject(
        trace_id=f"offline-{run.id}-{item.index}",
        input=item.input,
        output=item.output,
        documents=documents,
        model=run.model,
        prompt_version=run.prompt_version,
        span_kinds={"llm", "retrieval"} if documents else {"llm"},
    )


def _judge_item(ev: Evaluator, subject: Subject, attempts: int) -> dict[str, Any] | None:
    """Grade one item with a judge evaluator; None when the judge's answer was unusable (no score, as online)."""
    client = judge_client_for(ev.judge)
    try:
        item = JudgeInput(
            question=subject.input,
            answer=subject.output,
            contexts=[d.content for d in subject.documents],
        )
        verdict = client.grade(rubric=rubric_for(ev.config), item=item)
    except JudgeOutputInvalid:
        return None
    except JudgeUnavailable as exc:
        raise OfflineRunRetry(retry_delay(attempts - 1, exc.retry_after, cap_s=60.0)) from exc
    finally:
        client.close()
    return {
        "value": verdict.score,
        "passed": verdict.passed,
        "label": verdict.label,
        "explanation": verdict.reason,
        "evaluator_version": ev.version,
        "judge_model": verdict.model_pinned,
        "model_reported": verdict.model_reported,
    }


def _score_items(run: OfflineRun, evaluators: list[Evaluator], items: list[OfflineRunItem], attempts: int) -> None:
    """Score a chunk of items and save their results in one statement (also when a judge outage interrupts it)."""
    # Every item is scored: the online sample rate is about what live traffic costs, not what the metric means.
    everything = [copy.copy(ev) for ev in evaluators]
    for ev in everything:
        ev.sample_rate = 1.0
    subjects = {item.id: _subject(run, item) for item in items}
    scores, judged = evaluate_subjects(evaluators=everything, subjects=subjects)
    results: dict[int, dict[str, Any]] = {item.id: dict(item.results) for item in items}
    for score in scores:
        results[score.trace_pk][score.name] = {
            "value": score.value,
            "passed": score.passed,
            "label": score.label,
            "explanation": score.explanation,
            "evaluator_version": score.evaluator_version,
        }
    pending_judge: dict[int, list[Evaluator]] = {}
    for ev, item_id in judged:
        pending_judge.setdefault(item_id, []).append(ev)
    done: list[OfflineRunItem] = []
    try:
        for item in items:
            for ev in pending_judge.get(item.id, []):
                graded = results[item.id].get(ev.name)
                if graded and graded.get("evaluator_version") == ev.version:
                    continue  # graded by an earlier attempt of this chunk
                result = _judge_item(ev, subjects[item.id], attempts)
                if result is not None:
                    results[item.id][ev.name] = result
            item.results, item.is_scored = results[item.id], True
            done.append(item)
    except OfflineRunRetry:
        # Keep what is graded: the finished items, and the judge verdicts of the one that was interrupted.
        interrupted = next((i for i in items if not i.is_scored), None)
        if interrupted is not None:
            interrupted.results = results[interrupted.id]
            done.append(interrupted)
        raise
    finally:
        OfflineRunItem.objects.bulk_update(done, ["results", "is_scored"])


def _headline(project: Project, name: str, results: list[dict[str, Any]]) -> tuple[float | None, int]:
    """The metric's headline over the items as online reads it: a pass rate where it is one, else the mean."""
    spec = metric_spec_get(project=project, name=name)
    judged = [r["passed"] for r in results if r.get("passed") is not None]
    values = [r["value"] for r in results if isinstance(r.get("value"), (int, float))]
    if judged and (spec is None or spec.headline == "pass_rate"):
        return sum(1 for p in judged if p) / len(judged), len(judged)
    if values:
        return sum(values) / len(values), len(values)
    return None, 0


def _metrics_write(run: OfflineRun, evaluators: list[Evaluator]) -> None:
    by_name: dict[str, list[dict[str, Any]]] = {}
    for results in OfflineRunItem.objects.filter(run=run).values_list("results", flat=True):
        for name, result in results.items():
            by_name.setdefault(name, []).append(result)
    now = timezone.now()
    rows = []
    for ev in evaluators:
        value, count = _headline(run.project, ev.name, by_name.get(ev.name, []))
        if value is None:
            continue  # the evaluator applies to none of the items (e.g. grounding without context)
        rows.append(
            OfflineMetric(
                project_id=run.project_id,
                run=run,
                name=ev.name,
                value=value,
                count=count,
                evaluator_version=ev.version,
                judge_model=ev.judge.model if ev.judge is not None else "",
                model=run.model,
                prompt_version=run.prompt_version,
                measured_at=now,
            )
        )
    OfflineMetric.objects.filter(run=run).delete()  # a re-run of the last step writes the same rows once
    OfflineMetric.objects.bulk_create(rows)


def offline_run_step(*, run_id: int, chunk: int | None = None) -> OfflineStep:
    """Claim the run, score its next chunk of items and hand it back; the last step writes the run's metrics."""
    claim = job_claim(OFFLINE_RUN_JOB, row_id=run_id)
    if claim.outcome is Outcome.BUSY:
        return OfflineStep(more=False, wait=claim.wait)
    if claim.outcome is Outcome.GONE:
        return OfflineStep(more=False)
    token = claim.token
    assert token is not None
    run = OfflineRun.objects.select_related("project").get(id=run_id)
    try:
        evaluators = _run_evaluators(run)
        size = chunk or (JUDGED_CHUNK if any(ev.is_judge for ev in evaluators) else CHUNK)
        items = list(OfflineRunItem.objects.filter(run=run, is_scored=False).order_by("index")[:size])
        if items:
            _score_items(run, evaluators, items, claim.attempts)
    except OfflineRunRetry as exc:
        if (
            job_release(OFFLINE_RUN_JOB, row_id=run_id, token=token, error=str(exc), retry_in=exc.countdown)
            == "pending"
        ):
            raise
        return OfflineStep(more=False)
    except ValueError as exc:
        job_finish(
            OFFLINE_RUN_JOB,
            row_id=run_id,
            token=token,
            status=OfflineRun.Status.FAILED,
            error=str(exc),
            finished_at=timezone.now(),
        )
        return OfflineStep(more=False)
    except Exception as exc:
        job_release(OFFLINE_RUN_JOB, row_id=run_id, token=token, error=f"{type(exc).__name__}: {exc}")
        raise
    if items:
        # Hand the run back with the chunk saved; the next job (sent right after) claims it again.
        job_finish(
            OFFLINE_RUN_JOB,
            row_id=run_id,
            token=token,
            status=OfflineRun.Status.RUNNING,
            started_at=None,
            attempts=0,
            error="",
            enqueued_at=timezone.now(),
        )
        return OfflineStep(more=True)
    with transaction.atomic():
        _metrics_write(run, evaluators)
        if not job_finish(OFFLINE_RUN_JOB, row_id=run_id, token=token, error="", finished_at=timezone.now()):
            transaction.set_rollback(True)  # another worker took the run over: it writes the metrics
    return OfflineStep(more=False)


def metrics_parse(raw: Mapping[str, Any]) -> list[MetricInput]:
    """Read precomputed metrics: {name: value} or {name: {"value", "count"}}; a bad one names `metrics.<name>`."""
    out = []
    for name, entry in raw.items():
        field = f"metrics.{name}"
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise ValidationError({"metrics": "metric names are 1-100 characters"})
        count = None
        if isinstance(entry, Mapping):
            unknown = sorted(set(entry) - {"value", "count"})
            if unknown:
                raise ValidationError({f"{field}.{unknown[0]}": "unknown key; use value and count"})
            count = entry.get("count")
            if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
                raise ValidationError({f"{field}.count": "must be a whole number ≥ 0"})
            entry = entry.get("value")
            field = f"{field}.value"
        if (
            isinstance(entry, bool)
            or not isinstance(entry, (int, float))
            or entry != entry
            or entry
            in (
                float("inf"),
                float("-inf"),
            )
        ):
            raise ValidationError({field: "must be a finite number (a pass rate as 0–1)"})
        out.append(MetricInput(name=name, value=float(entry), count=count))
    return out
