"""Session summaries (apps/scores/sessions.py): the summary and its dirty queue, the triggers on traces_trace that
fill the queue, and a backfill of every stored session (then ANALYZE, so the sessions list plans on real counts).
"""

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
from django.db import migrations, models

# The SQL as it was when this migration was written, frozen here: apps/scores/sessions.py may change later, and
# a change to the triggers there needs a migration of its own.
TRIGGERS_CREATE = """
CREATE FUNCTION scores_session_traces_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO scores_sessiondirty (project_id, session_id)
    SELECT DISTINCT project_id, session_id FROM changed_rows WHERE session_id <> '';
    RETURN NULL;
END $$;
CREATE FUNCTION scores_session_traces_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO scores_sessiondirty (project_id, session_id)
    SELECT DISTINCT k.project_id, k.session_id
    FROM old_rows o JOIN new_rows n ON n.id = o.id,
         LATERAL (VALUES (o.project_id, o.session_id), (n.project_id, n.session_id)) AS k(project_id, session_id)
    WHERE k.session_id <> '' AND (o.project_id IS DISTINCT FROM n.project_id OR o.session_id IS DISTINCT FROM n.session_id OR o.user_id IS DISTINCT FROM n.user_id OR o.started_at IS DISTINCT FROM n.started_at OR o.ended_at IS DISTINCT FROM n.ended_at OR o.status IS DISTINCT FROM n.status OR o.has_feedback IS DISTINCT FROM n.has_feedback);
    RETURN NULL;
END $$;
CREATE TRIGGER scores_session_traces_inserted AFTER INSERT ON traces_trace
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION scores_session_traces_added();
CREATE TRIGGER scores_session_traces_deleted AFTER DELETE ON traces_trace
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION scores_session_traces_added();
CREATE TRIGGER scores_session_traces_updated AFTER UPDATE ON traces_trace
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION scores_session_traces_updated();
"""

TRIGGERS_DROP = """
DROP TRIGGER IF EXISTS scores_session_traces_inserted ON traces_trace;
DROP TRIGGER IF EXISTS scores_session_traces_deleted ON traces_trace;
DROP TRIGGER IF EXISTS scores_session_traces_updated ON traces_trace;
DROP FUNCTION IF EXISTS scores_session_traces_added();
DROP FUNCTION IF EXISTS scores_session_traces_updated();
"""

BACKFILL_SQL = """
WITH keys AS (SELECT DISTINCT project_id, session_id FROM traces_trace WHERE session_id <> '')
, tr AS (
    SELECT t.project_id, t.session_id, t.id, t.partition_at, t.started_at, t.ended_at, t.user_id, t.status,
           t.has_feedback
    FROM keys k JOIN traces_trace t ON t.project_id = k.project_id AND t.session_id = k.session_id
), failing AS (
    SELECT tr.project_id, tr.session_id, count(DISTINCT (s.trace_id, s.name)) AS n
    FROM tr JOIN scores_score s
      ON s.project_id = tr.project_id AND s.trace_id = tr.id AND s.partition_at = tr.partition_at
    WHERE s.passed = false
    GROUP BY 1, 2
), fresh AS (
    SELECT tr.project_id, tr.session_id, count(*) AS trace_count, min(tr.started_at) AS first_at,
           max(coalesce(tr.ended_at, tr.started_at)) AS last_at,
           coalesce(array_agg(DISTINCT tr.user_id ORDER BY tr.user_id) FILTER (WHERE tr.user_id <> ''),
                    '{}')::varchar(200)[] AS users,
           count(*) FILTER (WHERE tr.status = 'error') AS error_count,
           count(*) FILTER (WHERE tr.has_feedback) AS feedback_count
    FROM tr GROUP BY 1, 2
), up AS (
    INSERT INTO scores_sessionsummary (project_id, session_id, trace_count, first_at, last_at, users, error_count, failing_score_count, feedback_count)
    SELECT f.project_id, f.session_id, f.trace_count, f.first_at, f.last_at, f.users, f.error_count,
           coalesce(x.n, 0), f.feedback_count
    FROM fresh f LEFT JOIN failing x ON x.project_id = f.project_id AND x.session_id = f.session_id
    ON CONFLICT (project_id, session_id) DO UPDATE SET
        trace_count = EXCLUDED.trace_count, first_at = EXCLUDED.first_at, last_at = EXCLUDED.last_at, users = EXCLUDED.users, error_count = EXCLUDED.error_count, failing_score_count = EXCLUDED.failing_score_count, feedback_count = EXCLUDED.feedback_count
    WHERE (scores_sessionsummary.trace_count, scores_sessionsummary.first_at, scores_sessionsummary.last_at, scores_sessionsummary.users, scores_sessionsummary.error_count, scores_sessionsummary.failing_score_count, scores_sessionsummary.feedback_count)
        IS DISTINCT FROM (EXCLUDED.trace_count, EXCLUDED.first_at, EXCLUDED.last_at, EXCLUDED.users, EXCLUDED.error_count, EXCLUDED.failing_score_count, EXCLUDED.feedback_count)
    RETURNING 1
)
DELETE FROM scores_sessionsummary s USING keys k
WHERE s.project_id = k.project_id AND s.session_id = k.session_id
  AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.project_id = k.project_id AND f.session_id = k.session_id)
"""


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
