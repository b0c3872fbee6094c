from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "apps.feedback"
    label = "feedback"

    def ready(self) -> None:
        # The trace page shows a trace's feedback; traces cannot import feedback, so feedback plugs its panel in.
        from apps.feedback.selectors import trace_feedback_panel
        from apps.traces.selectors import trace_page_panel_register

        trace_page_panel_register(trace_feedback_panel)
