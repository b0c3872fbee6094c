"""The trace list's filter choices: one row per value a dimension took, written at ingest; filled from the traces.

The backfill reads the trace table once (a sequential scan on a big one); ingest keeps it current afterwards.
"""

import django.db.models.deletion
import django.db.models.functions.datetime
from django.db import migrations, models

BACKFILL_SQL = """
INSERT INTO traces_tracedimensionvalue (project_id, dimension, value)
SELECT DISTINCT t.project_id, d.dimension, d.value
FROM traces_trace t, LATERAL (VALUES ('route', t.route), ('model', t.model), ('prompt_version', t.prompt_version),
    ('environment', t.environment)) AS d(dimension, value)
WHERE d.value <> ''
ON CONFLICT DO NOTHING
"""


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0004_project_retention'),
        ('traces', '0006_trace_search_trigram_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='TraceDimensionValue',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('dimension', models.CharField(choices=[('route', 'Route'), ('model', 'Model'), ('prompt_version', 'Prompt version'), ('environment', 'Environment')], max_length=32)),
                ('value', models.CharField(max_length=200)),
                ('created_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                ('project', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='projects.project')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('project', 'dimension', 'value'), name='trace_dim_uniq_value')],
            },
        ),
        migrations.RunSQL(BACKFILL_SQL, migrations.RunSQL.noop),
    ]
