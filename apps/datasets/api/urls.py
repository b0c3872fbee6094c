from django.urls import path

from apps.datasets.api.views import (
    DatasetDetailApi,
    DatasetExportApi,
    DatasetItemsApi,
    DatasetsApi,
    OfflineRunDetailApi,
    OfflineRunsApi,
)

urlpatterns = [
    path("datasets", DatasetsApi.as_view(), name="api-datasets"),
    path("datasets/<int:dataset_id>", DatasetDetailApi.as_view(), name="api-dataset-detail"),
    path("datasets/<int:dataset_id>/items", DatasetItemsApi.as_view(), name="api-dataset-items"),
    path("datasets/<int:dataset_id>/export", DatasetExportApi.as_view(), name="api-dataset-export"),
    path("offline-runs", OfflineRunsApi.as_view(), name="api-offline-runs"),
    path("offline-runs/<int:run_id>", OfflineRunDetailApi.as_view(), name="api-offline-run-detail"),
]
