"""Reads of datasets and offline runs: reviewed failures to build from, trace snapshots, exports, run lists."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, QuerySet

from apps.datasets.models import Dataset, DatasetItem, OfflineMetric, OfflineRun
from apps.evaluators.selectors import subjects_build
from apps.projects.models import Project
from apps.review.models import Label
from apps.traces.models import Trace
from apps.traces.selectors import TracePagePanel

if TYPE_CHECKING:
    from apps.datasets.services import DatasetFilters


# -- building -------------------------------------------------------------------------------------------------------


def _consensus(passes: int, fails: int) -> str:
    """The trace's human verdict as review's consensus score has it: the majority, a tie is disputed."""
    if not passes + fails:
        return ""
    return "pass" if passes > fails else "fail" if fails > passes else "disputed"


def failure_trace_ids(*, project: Project, filters: DatasetFilters, limit: int) -> list[str]:
    """Return the 32-hex ids of the reviewed traces the filters select, newest first.

    The verdict is the consensus of the trace's labels; the category and reason match any of its labels (reason:
    the kind or text of a routing rule that queued it)."""
    labels = Label.objects.filter(project=project)
    if filters.category:
        labels = labels.filter(categories__contains=[filters.category])
    if filters.reason:
        labels = labels.filter(
            Q(item__reasons__contains=[{"kind": filters.reason}])
            | Q(item__reasons__contains=[{"text": filters.reason}])
        )
    counts = (
        Label.objects.filter(project=project, trace_pk__in=labels.values("trace_pk"))
        .values("trace_pk")
        .annotate(passes=Count("id", filter=Q(verdict="pass")), fails=Count("id", filter=Q(verdict="fail")))
    )
    pks = [
        row["trace_pk"]
        for row in counts
        if filters.verdict == "any" or _consensus(row["passes"], row["fails"]) == filters.verdict
    ]
    if not pks:
        return []
    traces = Trace.objects.filter(project=project, id__in=pks)
    for name in ("route", "model", "prompt_version"):
        if getattr(filters, name):
            traces = traces.filter(**{name: getattr(filters, name)})
    if filters.since:
        traces = traces.filter(started_at__gte=filters.since)
    if filters.until:
        traces = traces.filter(started_at__lt=filters.until)
    ids = traces.order_by("-started_at", "-id").values_list("trace_id", flat=True)[:limit]
    return list(dict.fromkeys(ids))


def failure_count(*, project: Project, filters: DatasetFilters) -> int:
    """How many reviewed traces the filters select (the build form's preview)."""
    return len(failure_trace_ids(project=project, filters=filters, limit=100_000))


def trace_snapshots(*, project: Project, trace_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Return, per trace id of the project, the fields of a dataset item: what was asked, the retrieved context,
    the production answer, the human verdict and categories, the corrected answer, and its provenance."""
    if not trace_ids:
        return {}
    rows = (
        Trace.objects.filter(project=project, trace_id__in=list(trace_ids))
        .order_by("trace_id", "-started_at")
        .values("id", "trace_id", "started_at", "route", "model", "prompt_version")
    )
    traces: dict[str, dict[str, Any]] = {}
    for row in rows:
        traces.setdefault(row["trace_id"], row)  # a trace split over two partitions: its latest row
    subjects = subjects_build(trace_pks=[t["id"] for t in traces.values()])
    labels: dict[int, list[Label]] = {}
    for label in (
        Label.objects.filter(project=project, trace_pk__in=[t["id"] for t in traces.values()])
        .select_related("reviewer")
        .order_by("created_at", "id")
    ):
        labels.setdefault(label.trace_pk, []).append(label)
    out = {}
    for trace_id, row in traces.items():
        subject = subjects.get(row["id"])
        mine = labels.get(row["id"], [])
        passes = sum(1 for label in mine if label.verdict == "pass")
        corrected = [label.corrected_answer for label in mine if label.corrected_answer]
        out[trace_id] = {
            "input": subject.input if subject else "",
            "output": subject.output if subject else "",
            "context": [{"id": d.id, "content": d.content} for d in subject.documents] if subject else [],
            "expected": corrected[-1] if corrected else "",
            "verdict": _consensus(passes, len(mine) - passes),
            "categories": sorted({c for label in mine if label.verdict == "fail" for c in label.categories}),
            "trace_id": trace_id,
            "trace_started_at": row["started_at"],
            "label_ids": [label.id for label in mine],
            "reviewers": [label.reviewer.get_username() for label in mine],
            "route": row["route"],
            "model": row["model"],
            "prompt_version": row["prompt_version"],
        }
    return out


# -- datasets -------------------------------------------------------------------------------------------------------


def dataset_list(*, project: Project) -> QuerySet[Dataset]:
    """Return the project's datasets, newest first, with their item counts."""
    return Dataset.objects.filter(project=project).annotate(item_count=Count("items")).order_by("-created_at", "-id")


def dataset_get(*, project: Project, dataset_id: int) -> Dataset | None:
    """Return one dataset of the project, or None."""
    return Dataset.objects.filter(project=project, id=dataset_id).first()


def dataset_items(*, dataset: Dataset, version: int | None = None) -> QuerySet[DatasetItem]:
    """Return the items of a version of the dataset (the latest by default), oldest first."""
    version = dataset.version if version is None else version
    return DatasetItem.objects.filter(dataset=dataset, added_in_version__lte=version).order_by("id")


def dataset_export_lines(*, dataset: Dataset, version: int) -> Iterator[dict[str, Any]]:
    """Yield one JSON-ready object per item of the version: the snapshot, its provenance and the version."""
    for item in dataset_items(dataset=dataset, version=version).iterator(chunk_size=500):
        yield {
            "id": item.id,
            "dataset": dataset.name,
            "dataset_version": version,
            "added_in_version": item.added_in_version,
            "input": item.input,
            "output": item.output,
            "context": item.context,
            "expected": item.expected,
            "verdict": item.verdict,
            "categories": item.categories,
            "trace_id": item.trace_id,
            "trace_started_at": item.trace_started_at.isoformat() if item.trace_started_at else None,
            "label_ids": item.label_ids,
            "reviewers": item.reviewers,
            "route": item.route,
            "model": item.model,
            "prompt_version": item.prompt_version,
            "metadata": item.metadata,
        }


def datasets_with_trace(*, project: Project, trace_id: str) -> list[str]:
    """Names of the project's datasets holding the trace."""
    return list(
        DatasetItem.objects.filter(project=project, trace_id=trace_id)
        .values_list("dataset__name", flat=True)
        .order_by("dataset__name")
    )


def trace_dataset_panel(*, trace: Trace) -> TracePagePanel:
    """The trace page's "Add to dataset" section (registered with traces in DatasetsConfig.ready), a fragment."""
    return TracePagePanel("datasets/_trace_add.html", {})


# -- offline runs ---------------------------------------------------------------------------------------------------


def offline_run_list(*, project: Project) -> QuerySet[OfflineRun]:
    """Return the project's offline runs, newest first, with their metrics."""
    return (
        OfflineRun.objects.filter(project=project)
        .select_related("dataset")
        .prefetch_related("metrics")
        .order_by("-created_at", "-id")
    )


def offline_metric_names(*, project: Project) -> list[str]:
    """Names of the metrics the project has offline values of."""
    return list(
        OfflineMetric.objects.filter(project=project).order_by("name").values_list("name", flat=True).distinct()
    )


def offline_run_get(*, project: Project, run_id: int) -> OfflineRun | None:
    """Return one offline run of the project, or None."""
    return offline_run_list(project=project).filter(id=run_id).first()
