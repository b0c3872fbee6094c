from django.apps import AppConfig


class EvaluatorsConfig(AppConfig):
    name = "apps.evaluators"
    label = "evaluators"

    def ready(self) -> None:
        # Each evaluator declares the metric its scores carry; scores cannot import evaluators, so it registers.
        from apps.evaluators.selectors import evaluator_metric_specs
        from apps.scores.metrics import metric_spec_provider_register

        metric_spec_provider_register(evaluator_metric_specs)
        # An edited or promoted judge changes the versions of the evaluators that use it (judges cannot import us).
        from apps.evaluators.services import evaluators_rehash_for_judge
        from apps.judges.services import judge_version_listener_register

        judge_version_listener_register(evaluators_rehash_for_judge)
