from django.apps import AppConfig


class EvaluatorsConfig(AppConfig):
    name = "apps.evaluators"
    label = "evaluators"
