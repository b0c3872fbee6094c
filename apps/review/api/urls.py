from django.urls import path

from apps.review.api.views import ItemsApi, RuleDetailApi, RulesApi

urlpatterns = [
    path("review/rules", RulesApi.as_view(), name="api-review-rules"),
    path("review/rules/<int:rule_id>", RuleDetailApi.as_view(), name="api-review-rule-detail"),
    path("review/items", ItemsApi.as_view(), name="api-review-items"),
]
