from django.apps import AppConfig


class EvaluatorsConfig(AppConfig):
    name = "apps.evaluators"
    label = "evaluators"

    def ready(self) -> None:
        # Each evaluator declares the metric its scores carry; scores cannot import evaluators, so it registers.
        from apps.evaluators.selectors import evaluator_metric_specs
        from apps.scores.metrics import metric_spec_provider_register

        metric_spec_provider_register(evaluator_metric_specs)
