"""Scores become daily RANGE partitions on partition_at (their trace's), keys leading with project_id."""

from django.db import migrations

from apps.core.partitions import table_partition, table_unpartition


def forwards(apps, schema_editor):
    table_partition(schema_editor, "scores_score")


def backwards(apps, schema_editor):
    table_unpartition(schema_editor, "scores_score")


class Migration(migrations.Migration):
    dependencies = [
        ("scores", "0006_score_partition_at"),
        ("traces", "0004_partition_traces_and_spans"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
