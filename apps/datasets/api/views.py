"""Datasets and offline-runs API: create and fill datasets, export them as JSONL, record offline runs."""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import error_response, list_envelope, list_response, validation_error_response
from apps.datasets.api.serializers import (
    DatasetCreatedSerializer,
    DatasetCreateSerializer,
    DatasetOutputSerializer,
    ItemInputSerializer,
    ItemsAddedSerializer,
    ItemsAddSerializer,
    OfflineRunCreateSerializer,
    OfflineRunOutputSerializer,
    dataset_data,
)
from apps.datasets.models import Dataset
from apps.datasets.offline import RunItemInput, metrics_parse, offline_run_create
from apps.datasets.selectors import (
    dataset_export_lines,
    dataset_get,
    dataset_items,
    dataset_list,
    offline_run_get,
    offline_run_list,
)
from apps.datasets.services import ItemInput, dataset_create, dataset_filters_clean, dataset_items_add

LIST_LIMIT = 200


def _export_url(request: Request, dataset: Dataset) -> str:
    return request.build_absolute_uri(reverse("api-dataset-export", args=[dataset.id]))


def _dataset_not_found() -> Response:
    return error_response("dataset_id: no such dataset", "not_found", 404, field="dataset_id")


PAGE_PARAMETERS = [
    OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
    OpenApiParameter("limit", int, description=f"1–{LIST_LIMIT}, default 50"),
]


def _page(request: Request, rows: QuerySet) -> tuple[list, str | None] | Response:
    """One page of rows, newest first (by id), and the cursor of the next page; a 400 naming a bad parameter."""
    raw, cursor = request.query_params.get("limit") or "50", request.query_params.get("cursor") or ""
    if not raw.isdigit() or not 1 <= int(raw) <= LIST_LIMIT:
        return error_response(f"limit: must be an integer from 1 to {LIST_LIMIT}", "invalid_filter", 400, field="limit")
    if cursor and (not cursor.isdigit() or len(cursor) > 18):
        return error_response("cursor: not a cursor this API returned", "invalid_filter", 400, field="cursor")
    limit = int(raw)
    rows = rows.order_by("-id")
    if cursor:
        rows = rows.filter(id__lt=int(cursor))
    page = list(rows[: limit + 1])
    return page[:limit], (str(page[limit - 1].id) if len(page) > limit else None)


class DatasetsApi(APIView):
    """List the project's datasets, or create one (optionally built from reviewed failures at once)."""

    @extend_schema(
        summary="List datasets",
        parameters=PAGE_PARAMETERS,
        responses=list_envelope(DatasetOutputSerializer),
    )
    def get(self, request: Request) -> Response:
        page = _page(request, dataset_list(project=request.auth.project))
        if isinstance(page, Response):
            return page
        rows, next_cursor = page
        return list_response([dataset_data(d, _export_url(request, d), d.item_count) for d in rows], next_cursor)

    @extend_schema(
        summary="Create a dataset",
        description="With `filters`, the dataset is built at once from the reviewed traces they select (version 1).",
        request=DatasetCreateSerializer,
        responses={201: DatasetCreatedSerializer},
    )
    def post(self, request: Request) -> Response:
        payload = DatasetCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            filters = dataset_filters_clean(data["filters"]) if "filters" in data else None
            dataset, added = dataset_create(
                project=request.auth.project, name=data["name"], description=data["description"], filters=filters
            )
        except ValidationError as exc:
            return validation_error_response(exc)
        body = dataset_data(dataset, _export_url(request, dataset), added.added if added else 0)
        body["added"] = added.added if added else 0
        return Response(body, status=status.HTTP_201_CREATED)


class DatasetDetailApi(APIView):
    """Read one dataset."""

    @extend_schema(summary="Get a dataset", responses=DatasetOutputSerializer)
    def get(self, request: Request, dataset_id: int) -> Response:
        dataset = dataset_get(project=request.auth.project, dataset_id=dataset_id)
        if dataset is None:
            return _dataset_not_found()
        count = dataset_items(dataset=dataset).count()
        return Response(dataset_data(dataset, _export_url(request, dataset), count))


class DatasetItemsApi(APIView):
    """Add items to a dataset: traces (snapshotted now, with their labels) or snapshots given by hand."""

    @extend_schema(summary="Add items to a dataset", request=ItemsAddSerializer, responses={200: ItemsAddedSerializer})
    def post(self, request: Request, dataset_id: int) -> Response:
        dataset = dataset_get(project=request.auth.project, dataset_id=dataset_id)
        if dataset is None:
            return _dataset_not_found()
        payload = ItemsAddSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        items = [ItemInput(**item) for item in payload.validated_data["items"]]
        try:
            result = dataset_items_add(dataset=dataset, items=items)
        except ValidationError as exc:
            return validation_error_response(exc)
        return Response(
            {"dataset": dataset.id, "version": result.version, "added": result.added, "skipped": result.skipped}
        )


# Referenced so drf-spectacular documents the item shape once, under its own name.
_ = ItemInputSerializer


class DatasetExportApi(APIView):
    """A version of a dataset as JSONL, one item per line; every line and the headers name the version."""

    @extend_schema(
        summary="Export a dataset as JSONL",
        parameters=[OpenApiParameter("version", int, description="default: the latest version")],
        responses={(200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="one item per line")},
    )
    def get(self, request: Request, dataset_id: int) -> Response | StreamingHttpResponse:
        dataset = dataset_get(project=request.auth.project, dataset_id=dataset_id)
        if dataset is None:
            return _dataset_not_found()
        raw = request.query_params.get("version", "")
        if raw and (not raw.isdigit() or not 1 <= int(raw) <= dataset.version):
            latest = f"1 to {dataset.version}" if dataset.version else "none yet: the dataset is empty"
            return error_response(f"version: no such version (versions: {latest})", "invalid", 400, field="version")
        version = int(raw) if raw else dataset.version

        def lines() -> Iterator[str]:
            for row in dataset_export_lines(dataset=dataset, version=version):
                yield json.dumps(row, ensure_ascii=False) + "\n"

        response = StreamingHttpResponse(lines(), content_type="application/x-ndjson; charset=utf-8")
        response["X-Sightline-Dataset-Version"] = str(version)
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in dataset.name)[:80]
        response["Content-Disposition"] = f'attachment; filename="{safe}-v{version}.jsonl"'
        return response


class OfflineRunsApi(APIView):
    """Record a run of the team's offline suite, or list the runs."""

    @extend_schema(
        summary="List offline runs",
        parameters=[
            OpenApiParameter("prompt_version", str, description="only runs of this prompt version"),
            *PAGE_PARAMETERS,
        ],
        responses=list_envelope(OfflineRunOutputSerializer),
    )
    def get(self, request: Request) -> Response:
        runs = offline_run_list(project=request.auth.project)
        version = request.query_params.get("prompt_version", "")
        if version:
            runs = runs.filter(prompt_version=version[:100])
        page = _page(request, runs)
        if isinstance(page, Response):
            return page
        rows, next_cursor = page
        return list_response(OfflineRunOutputSerializer(rows, many=True).data, next_cursor)

    @extend_schema(
        summary="Record an offline run",
        description=(
            "Either `items` (input, output, context, expected), scored here by a worker with the project's enabled "
            "evaluators at their current versions, the same that score live traffic (status pending → done), or "
            "precomputed `metrics` for suites scored elsewhere (status done at once)."
        ),
        request=OfflineRunCreateSerializer,
        responses={201: OfflineRunOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        payload = OfflineRunCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        project = request.auth.project
        dataset = None
        if data["dataset"] is not None:
            dataset = dataset_get(project=project, dataset_id=data["dataset"])
            if dataset is None:
                return error_response("dataset: no such dataset in this project", "invalid", 400, field="dataset")
        try:
            run = offline_run_create(
                project=project,
                name=data["name"],
                prompt_version=data["prompt_version"],
                model=data["model"],
                git_revision=data["git_revision"],
                dataset=dataset,
                items=[RunItemInput(**item) for item in data["items"]] if "items" in data else None,
                metrics=metrics_parse(data["metrics"]) if "metrics" in data else None,
            )
        except ValidationError as exc:
            return validation_error_response(exc)
        run = offline_run_get(project=project, run_id=run.id)
        return Response(OfflineRunOutputSerializer(run).data, status=status.HTTP_201_CREATED)


class OfflineRunDetailApi(APIView):
    """Read one offline run: its status, the evaluators that scored it, and its metrics."""

    @extend_schema(summary="Get an offline run", responses=OfflineRunOutputSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        run = offline_run_get(project=request.auth.project, run_id=run_id)
        if run is None:
            return error_response("run_id: no such offline run", "not_found", 404, field="run_id")
        return Response(OfflineRunOutputSerializer(run).data)
