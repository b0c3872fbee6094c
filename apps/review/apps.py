from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "apps.review"
    label = "review"

    def ready(self) -> None:
        # Routing runs as scores arrive: scores cannot import review, so review subscribes to its writes.
        from apps.review.services import review_scores_written
        from apps.scores.services import scores_written_subscribe

        scores_written_subscribe(review_scores_written)
