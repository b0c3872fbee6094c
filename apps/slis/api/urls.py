from django.urls import path

from apps.slis.api.views import (
    AlertRuleDetailApi,
    AlertRulesApi,
    AlertsApi,
    ChannelsApi,
    SliDetailApi,
    SlisApi,
)

urlpatterns = [
    path("slis", SlisApi.as_view(), name="api-slis"),
    path("slis/<int:sli_id>", SliDetailApi.as_view(), name="api-sli-detail"),
    path("alert-rules", AlertRulesApi.as_view(), name="api-alert-rules"),
    path("alert-rules/<int:rule_id>", AlertRuleDetailApi.as_view(), name="api-alert-rule-detail"),
    path("alerts", AlertsApi.as_view(), name="api-alerts"),
    path("channels", ChannelsApi.as_view(), name="api-channels"),
]
