"""Scores carry their trace's partition_at; their unique key leads with project and includes it.

Runs before traces are partitioned (the foreign key to traces_trace must go first); the trace's started_at
is the value traces_trace.partition_at gets in traces 0004, so the two agree.
"""

import django.db.models.deletion
from django.db import migrations, models

FILL_SQL = """
SET CONSTRAINTS ALL IMMEDIATE;
UPDATE scores_score s SET partition_at = t.started_at FROM traces_trace t WHERE t.id = s.trace_id;
UPDATE scores_score SET partition_at = trace_started_at WHERE partition_at IS NULL;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("scores", "0005_rollup_trace_moved_trigger"),
        ("traces", "0003_pending_evaluations_response_id_index_trace_id_check"),
    ]
    run_before = [("traces", "0004_partition_traces_and_spans")]

    operations = [
        migrations.RemoveConstraint(model_name="score", name="score_uniq_eval"),
        migrations.AddField(model_name="score", name="partition_at", field=models.DateTimeField(null=True)),
        migrations.RunSQL(FILL_SQL, migrations.RunSQL.noop),
        migrations.AlterField(model_name="score", name="partition_at", field=models.DateTimeField()),
        migrations.AlterField(
            model_name="score",
            name="trace",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="scores",
                to="traces.trace",
            ),
        ),
        migrations.AddConstraint(
            model_name="score",
            constraint=models.UniqueConstraint(
                fields=("project", "trace", "name", "source", "evaluator_version", "span_id", "partition_at"),
                name="score_uniq_eval",
            ),
        ),
    ]
