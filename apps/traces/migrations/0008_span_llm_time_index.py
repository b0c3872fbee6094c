"""The span index by (project, kind, start) becomes a partial index of the LLM and embedding spans by start.

Its one reader is the cost backfill (`kind IN ('llm', 'embedding') AND started_at >= …`); the other kinds' entries
were written on every ingest and never read (76 of the dual bench's ~3,950 bytes on disk per span). Rows are not
touched: the new index is built on every partition, then the old one dropped.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('traces', '0007_trace_dimension_values'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='span',
            index=models.Index(
                condition=models.Q(('kind__in', ['llm', 'embedding'])),
                fields=['project', 'started_at'],
                name='span_project_llm_time',
            ),
        ),
        migrations.RemoveIndex(
            model_name='span',
            name='span_project_kind_time',
        ),
    ]
