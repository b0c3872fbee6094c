from django.urls import path

from apps.evaluators.api.views import BackfillDetailApi, BackfillsApi, EvaluatorDetailApi, EvaluatorsApi

urlpatterns = [
    path("evaluators", EvaluatorsApi.as_view(), name="api-evaluators"),
    path("evaluators/<int:evaluator_id>", EvaluatorDetailApi.as_view(), name="api-evaluator-detail"),
    path("evaluators/<int:evaluator_id>/backfills", BackfillsApi.as_view(), name="api-backfills"),
    path("backfills/<int:backfill_id>", BackfillDetailApi.as_view(), name="api-backfill-detail"),
]
