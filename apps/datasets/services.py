"""Writes of datasets: create, build from reviewed failures, add items (each change is a new version)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_datetime

from apps.datasets.models import Dataset, DatasetItem
from apps.datasets.selectors import failure_trace_ids, trace_snapshots
from apps.projects.models import Project

VERDICTS = ("fail", "pass", "any")
FILTER_TEXT = ("category", "reason", "route", "model", "prompt_version")
MAX_ITEMS_PER_CALL = 1000
MAX_BUILD_ITEMS = 5000


@dataclass(frozen=True)
class DatasetFilters:
    """Which reviewed traces a dataset is built from: the human verdict, a failure category, a routing reason
    (the kind of rule that queued it), the trace's route, model and prompt version, and its start time."""

    verdict: str = "fail"
    category: str = ""
    reason: str = ""
    route: str = ""
    model: str = ""
    prompt_version: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def as_json(self) -> dict[str, str]:
        """The filters as stored on the dataset and put in URLs (blank ones left out)."""
        out = {k: getattr(self, k) for k in ("verdict", *FILTER_TEXT) if getattr(self, k)}
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.isoformat()
        return out


def _time(raw: Any, name: str) -> datetime | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, datetime):
        return raw
    value = parse_datetime(str(raw)) if isinstance(raw, str) else None
    if value is None:
        raise ValidationError({name: f"not an ISO 8601 time: {str(raw)[:50]!r}"})
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # times without an offset are UTC


def dataset_filters_clean(raw: Mapping[str, Any] | None) -> DatasetFilters:
    """Validate build filters; a bad one raises ValidationError naming it (`filters.<name>`)."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - {"verdict", *FILTER_TEXT, "since", "until"})
    if unknown:
        raise ValidationError({f"filters.{unknown[0]}": "unknown filter"})
    verdict = str(raw.get("verdict") or "fail")
    if verdict not in VERDICTS:
        raise ValidationError({"filters.verdict": f"use one of {', '.join(VERDICTS)}"})
    texts = {}
    for name in FILTER_TEXT:
        value = raw.get(name) or ""
        if not isinstance(value, str) or len(value) > 200 or "\x00" in value:
            raise ValidationError({f"filters.{name}": "must be a string of at most 200 characters"})
        texts[name] = value.strip()
    since, until = _time(raw.get("since"), "filters.since"), _time(raw.get("until"), "filters.until")
    if since and until and until <= since:
        raise ValidationError({"filters.until": "must be after since"})
    return DatasetFilters(verdict=verdict, since=since, until=until, **texts)


def _name_clean(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "required"})
    if len(name) > 200:
        raise ValidationError({"name": "at most 200 characters"})
    return name


@dataclass
class ItemInput:
    """One item to add: a trace (its snapshot is taken now), or a snapshot given by hand."""

    trace_id: str = ""
    input: str = ""
    output: str = ""
    context: list[dict[str, str]] = field(default_factory=list)
    expected: str = ""
    verdict: str = ""
    categories: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemsAdded:
    """What an add did: the dataset's version after it, items added, and items already there (skipped)."""

    version: int
    added: int
    skipped: int


@transaction.atomic
def dataset_create(
    *, project: Project, name: str, description: str = "", filters: DatasetFilters | None = None
) -> tuple[Dataset, ItemsAdded | None]:
    """Create a dataset; with filters, fill it at once from the reviewed traces they select (its version 1)."""
    name = _name_clean(name)
    if Dataset.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": f"a dataset named {name!r} exists already"})
    try:
        with transaction.atomic():
            dataset = Dataset.objects.create(
                project=project,
                name=name,
                description=(description or "").strip(),
                built_from=filters.as_json() if filters is not None else {},
            )
    except IntegrityError as exc:  # a concurrent create of the same name
        raise ValidationError({"name": f"a dataset named {name!r} exists already"}) from exc
    if filters is None:
        return dataset, None
    return dataset, dataset_build_from_failures(dataset=dataset, filters=filters)


def dataset_build_from_failures(*, dataset: Dataset, filters: DatasetFilters) -> ItemsAdded:
    """Add the reviewed traces the filters select (newest first, at most MAX_BUILD_ITEMS) as one new version."""
    trace_ids = failure_trace_ids(project=dataset.project, filters=filters, limit=MAX_BUILD_ITEMS)
    return dataset_items_add(dataset=dataset, items=[ItemInput(trace_id=t) for t in trace_ids])


@transaction.atomic
def dataset_items_add(*, dataset: Dataset, items: Sequence[ItemInput]) -> ItemsAdded:
    """Add items as the dataset's next version; a trace already in the dataset is skipped. No new item, no new
    version. Traces are snapshotted now: their input, retrieved context, output and human labels."""
    if len(items) > MAX_ITEMS_PER_CALL:
        raise ValidationError({"items": f"at most {MAX_ITEMS_PER_CALL} per call"})
    locked = Dataset.objects.select_for_update().get(id=dataset.id)  # one version bump at a time
    wanted = list(dict.fromkeys(i.trace_id for i in items if i.trace_id))
    snapshots = trace_snapshots(project=locked.project, trace_ids=wanted)
    missing = [t for t in wanted if t not in snapshots]
    if missing:
        raise ValidationError({"trace_id": f"no trace {missing[0]!r} in this project"})
    present = set(DatasetItem.objects.filter(dataset=locked, trace_id__in=wanted).values_list("trace_id", flat=True))
    version = locked.version + 1
    rows: list[DatasetItem] = []
    seen: set[str] = set()
    for item in items:
        if item.trace_id:
            if item.trace_id in present or item.trace_id in seen:
                continue
            seen.add(item.trace_id)
            rows.append(
                DatasetItem(
                    project_id=locked.project_id, dataset=locked, added_in_version=version, **snapshots[item.trace_id]
                )
            )
        else:
            rows.append(
                DatasetItem(
                    project_id=locked.project_id,
                    dataset=locked,
                    added_in_version=version,
                    input=item.input,
                    output=item.output,
                    context=item.context,
                    expected=item.expected,
                    verdict=item.verdict,
                    categories=item.categories,
                    metadata=item.metadata,
                )
            )
    if rows:
        DatasetItem.objects.bulk_create(rows)
        Dataset.objects.filter(id=locked.id).update(version=version)
        dataset.version = version
    return ItemsAdded(
        version=dataset.version if rows else locked.version, added=len(rows), skipped=len(items) - len(rows)
    )
