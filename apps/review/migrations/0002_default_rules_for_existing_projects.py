"""Give projects that existed before the review queue its default settings and routing rules."""

from django.db import migrations

DEFAULT_CATEGORIES = ["hallucination", "refusal", "wrong tool", "formatting", "incomplete", "unsafe"]
# A frozen copy of apps.review.services.DEFAULT_RULES: a migration must not change when the code does.
DEFAULT_RULES = (
    {"kind": "negative_feedback", "priority": 90},
    {"kind": "check_failed", "priority": 70},
    {"kind": "judge_confidence_below", "threshold": 0.6, "priority": 50},
    {"kind": "score_below", "score_name": "grounding", "threshold": 0.5, "priority": 60},
    {"kind": "random_sample", "sample_percent": 2.0, "priority": 10, "reviews_required": 2},
)


def forwards(apps, schema_editor):
    Project = apps.get_model("projects", "Project")
    ReviewQueue = apps.get_model("review", "ReviewQueue")
    RoutingRule = apps.get_model("review", "RoutingRule")
    for project in Project.objects.all().iterator():
        ReviewQueue.objects.get_or_create(project=project, defaults={"categories": list(DEFAULT_CATEGORIES)})
        if not RoutingRule.objects.filter(project=project).exists():
            RoutingRule.objects.bulk_create(RoutingRule(project=project, **rule) for rule in DEFAULT_RULES)


class Migration(migrations.Migration):
    dependencies = [("review", "0001_initial"), ("projects", "0002_api_key_admin_and_feedback_scopes")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
