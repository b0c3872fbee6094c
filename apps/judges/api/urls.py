from django.urls import path

from apps.judges.api.views import (
    JudgeAgreementApi,
    JudgeCalibrateApi,
    JudgeDetailApi,
    JudgePromoteApi,
    JudgesApi,
    JudgeTestApi,
)

urlpatterns = [
    path("judges", JudgesApi.as_view(), name="api-judges"),
    path("judges/<int:judge_id>", JudgeDetailApi.as_view(), name="api-judge-detail"),
    path("judges/<int:judge_id>/test", JudgeTestApi.as_view(), name="api-judge-test"),
    path("judges/<int:judge_id>/calibrate", JudgeCalibrateApi.as_view(), name="api-judge-calibrate"),
    path("judges/<int:judge_id>/agreement", JudgeAgreementApi.as_view(), name="api-judge-agreement"),
    path("judges/<int:judge_id>/versions/<int:number>/promote", JudgePromoteApi.as_view(), name="api-judge-promote"),
]
