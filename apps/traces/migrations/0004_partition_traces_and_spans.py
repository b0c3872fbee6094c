"""Traces and spans become daily RANGE partitions on partition_at; every key leads with project_id.

partition_at is the trace's first known start time (its started_at today) and the spans copy their trace's.
The tables are rebuilt by apps.core.partitions (rows copied, indexes and constraints rebuilt from the
catalog), the reverse rebuilds plain tables. Large text/jsonb columns get lz4 TOAST where the server has it.
"""

import django.db.models.deletion
from django.db import migrations, models

from apps.core.partitions import columns_compress, table_partition, table_unpartition

FILL_SQL = """
SET CONSTRAINTS ALL IMMEDIATE;
UPDATE traces_trace SET partition_at = started_at;
UPDATE traces_span s SET partition_at = t.partition_at FROM traces_trace t WHERE t.id = s.trace_id;
"""
TRACE_LZ4 = ["input_text", "output_text", "metadata", "error"]
SPAN_LZ4 = [
    "system_instructions",
    "input_messages",
    "output_messages",
    "tool_definitions",
    "tool_calls",
    "documents",
    "request_params",
    "raw_input",
    "raw_output",
    "input_text",
    "output_text",
    "error_message",
    "attributes",
    "resource",
    "events",
]


def forwards(apps, schema_editor):
    columns_compress(schema_editor, "traces_trace", TRACE_LZ4)
    columns_compress(schema_editor, "traces_span", SPAN_LZ4)
    table_partition(schema_editor, "traces_trace")
    table_partition(schema_editor, "traces_span")


def backwards(apps, schema_editor):
    table_unpartition(schema_editor, "traces_span")
    table_unpartition(schema_editor, "traces_trace")


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0002_api_key_admin_and_feedback_scopes"),
        ("traces", "0003_pending_evaluations_response_id_index_trace_id_check"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="span", name="span_uniq_trace_span_id"),
        migrations.RemoveConstraint(model_name="trace", name="trace_uniq_project_trace_id"),
        migrations.AddField(model_name="trace", name="partition_at", field=models.DateTimeField(null=True)),
        migrations.AddField(model_name="span", name="partition_at", field=models.DateTimeField(null=True)),
        migrations.RunSQL(FILL_SQL, migrations.RunSQL.noop),
        migrations.AlterField(model_name="trace", name="partition_at", field=models.DateTimeField()),
        migrations.AlterField(model_name="span", name="partition_at", field=models.DateTimeField()),
        migrations.AlterField(
            model_name="span",
            name="trace",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="spans",
                to="traces.trace",
            ),
        ),
        migrations.AddIndex(model_name="trace", index=models.Index(fields=["id"], name="trace_id_lookup")),
        migrations.AddConstraint(
            model_name="trace",
            constraint=models.UniqueConstraint(
                fields=("project", "trace_id", "partition_at"), name="trace_uniq_project_trace_id"
            ),
        ),
        migrations.AddConstraint(
            model_name="span",
            constraint=models.UniqueConstraint(
                fields=("project", "trace", "span_id", "partition_at"), name="span_uniq_trace_span_id"
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
