from django.apps import AppConfig


class ScoresConfig(AppConfig):
    name = "apps.scores"
    label = "scores"

    def ready(self) -> None:
        # Trace lists and pages filter and show scores; traces cannot import scores, so scores plugs its reads in.
        from apps.scores import selectors
        from apps.traces.selectors import trace_score_reads_register

        trace_score_reads_register(selectors)
