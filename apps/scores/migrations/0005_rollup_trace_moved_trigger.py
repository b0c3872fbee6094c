"""A trace whose start time moves leaves its old minute dirty, as well as its new one.

The writers mark the minutes their rows are in now (scores_upsert, the post-ingest batch job); only the
database still knows the minute a trace moved away from, so a row trigger records it, firing only when
`started_at` actually changes.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION scores_rollup_trace_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO scores_rollupdirty (project_id, minute) VALUES
        (OLD.project_id, date_trunc('minute', OLD.started_at, 'UTC')),
        (NEW.project_id, date_trunc('minute', NEW.started_at, 'UTC'));
    RETURN NULL;
END $$;
CREATE TRIGGER scores_rollup_trace_moved AFTER UPDATE OF started_at ON traces_trace
    FOR EACH ROW WHEN (OLD.started_at IS DISTINCT FROM NEW.started_at)
    EXECUTE FUNCTION scores_rollup_trace_moved();
"""
DROP = """
DROP TRIGGER IF EXISTS scores_rollup_trace_moved ON traces_trace;
DROP FUNCTION IF EXISTS scores_rollup_trace_moved();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("scores", "0004_rollups"),
        ("traces", "0003_pending_evaluations_response_id_index_trace_id_check"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
