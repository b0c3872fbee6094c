"""The latest failed scores read from a partial index (failed rows only), newest first: the failures panel."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0004_project_retention"),
        ("scores", "0008_session_summaries"),
        ("traces", "0007_trace_dimension_values"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="score",
            index=models.Index(
                condition=models.Q(("passed", False)),
                fields=["project", "name", "-trace_started_at"],
                name="score_failed_recent",
            ),
        ),
    ]
