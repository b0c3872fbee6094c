"""Session summaries (apps/scores/sessions.py): the summary and its dirty queue, the triggers on traces_trace that
fill the queue, and a backfill of every stored session (then ANALYZE, so the sessions list plans on real counts).
"""

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
from django.db import migrations, models

from apps.scores.sessions import BACKFILL_SQL, TRIGGERS_CREATE, TRIGGERS_DROP


class Migration(migrations.Migration):

    dependencies = [
        ('scores', '0007_partition_scores'),
    ]

    operations = [
        migrations.CreateModel(
            name='SessionDirty',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('project_id', models.BigIntegerField()),
                ('session_id', models.CharField(max_length=200)),
            ],
        ),
        migrations.CreateModel(
            name='SessionSummary',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('project_id', models.BigIntegerField()),
                ('session_id', models.CharField(max_length=200)),
                ('trace_count', models.IntegerField()),
                ('first_at', models.DateTimeField()),
                ('last_at', models.DateTimeField()),
                ('users', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=200), default=list, size=None)),
                ('error_count', models.IntegerField()),
                ('failing_score_count', models.IntegerField()),
                ('feedback_count', models.IntegerField()),
            ],
            options={
                'indexes': [models.Index(fields=['project_id', '-last_at', 'session_id'], name='sessionsummary_recent'), models.Index(fields=['project_id', 'first_at'], name='sessionsummary_first'), django.contrib.postgres.indexes.GinIndex(fields=['users'], name='sessionsummary_users')],
                'constraints': [models.UniqueConstraint(fields=('project_id', 'session_id'), name='sessionsummary_uniq')],
            },
        ),
        migrations.RunSQL(TRIGGERS_CREATE, TRIGGERS_DROP),
        migrations.RunSQL(BACKFILL_SQL, migrations.RunSQL.noop),
        migrations.RunSQL("ANALYZE scores_sessionsummary", migrations.RunSQL.noop),
    ]
