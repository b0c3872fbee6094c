from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "apps.review"
    label = "review"

    def ready(self) -> None:
        # Routing runs as scores arrive: scores cannot import review, so review subscribes to its writes.
        from apps.review.services import review_scores_written
        from apps.scores.services import scores_written_subscribe

        scores_written_subscribe(review_scores_written)
        # The trace page's "Annotate" section: traces cannot name review's URLs, so review plugs its panel in.
        from apps.review.selectors import trace_annotate_panel
        from apps.traces.selectors import trace_page_panel_register

        trace_page_panel_register(trace_annotate_panel)
        # Bias-corrected pass rates read the labeled random sample: scores cannot import review, so it registers.
        from apps.review.selectors import random_sample_label_judge_pairs
        from apps.scores.corrected import calibration_pairs_provider_register

        calibration_pairs_provider_register(random_sample_label_judge_pairs)
