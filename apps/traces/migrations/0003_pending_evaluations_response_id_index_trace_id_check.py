"""Evaluations naming only a response id wait in PendingEvaluation; spans are found by gen_ai.response.id;
a trace row never has an empty id.

Traces created with id '' before this migration only held external scores of such evaluations: those scores
become pending evaluations again (resolved against spans by their response id, or rejected with a reason
after the grace period), and the empty-id rows go. The check is added NOT VALID first so that a row some other
table still references cannot stop the migration; it is validated when no such row is left.
"""

import django.db.models.deletion
import django.db.models.fields.json
from django.db import migrations, models


FORWARD_SQL = """
-- Foreign keys are deferred: check them at once, so a still-referenced row fails here (and is kept) and no
-- trigger event is pending when the table is altered.
SET CONSTRAINTS ALL IMMEDIATE;
DO $$
BEGIN
    IF to_regclass('scores_score') IS NOT NULL THEN
        INSERT INTO traces_pendingevaluation
            (project_id, response_id, name, score, label, explanation, state, reason, received_at)
        SELECT s.project_id, left(s.metadata ->> 'response_id', 200), s.name, s.value, s.label, s.explanation,
            'pending', '', s.created_at
        FROM scores_score s JOIN traces_trace t ON t.id = s.trace_id
        WHERE t.trace_id = '' AND coalesce(s.metadata ->> 'response_id', '') <> '';
        DELETE FROM scores_score s USING traces_trace t WHERE t.id = s.trace_id AND t.trace_id = '';
    END IF;
    BEGIN
        DELETE FROM traces_trace WHERE trace_id = '';
    EXCEPTION WHEN foreign_key_violation THEN
        RAISE WARNING 'traces with an empty trace_id are still referenced; constraint left NOT VALID';
    END;
END $$;
ALTER TABLE traces_trace ADD CONSTRAINT trace_id_not_empty CHECK (NOT (trace_id = '')) NOT VALID;
DO $$
BEGIN
    ALTER TABLE traces_trace VALIDATE CONSTRAINT trace_id_not_empty;
EXCEPTION WHEN check_violation THEN
    RAISE WARNING 'trace_id_not_empty not validated: rows with an empty trace_id remain';
END $$;
"""
REVERSE_SQL = "ALTER TABLE traces_trace DROP CONSTRAINT trace_id_not_empty"


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0001_initial"),
        ("traces", "0002_ingestbatch_failed_error_enqueued_at"),
    ]

    operations = [
        migrations.CreateModel(
            name="PendingEvaluation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("response_id", models.CharField(max_length=200)),
                ("name", models.CharField(blank=True, default="", max_length=100)),
                ("score", models.FloatField(blank=True, null=True)),
                ("label", models.CharField(blank=True, default="", max_length=100)),
                ("explanation", models.TextField(blank=True, default="")),
                (
                    "state",
                    models.CharField(
                        choices=[("pending", "Pending"), ("rejected", "Rejected")], default="pending", max_length=8
                    ),
                ),
                ("reason", models.TextField(blank=True, default="")),
                ("received_at", models.DateTimeField()),
                ("rejected_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.AddIndex(
            model_name="span",
            index=models.Index(
                models.F("project"),
                django.db.models.fields.json.KeyTextTransform("gen_ai.response.id", "attributes"),
                condition=models.Q(("attributes__has_key", "gen_ai.response.id")),
                name="span_project_response_id",
            ),
        ),
        migrations.AddField(
            model_name="pendingevaluation",
            name="project",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="projects.project"
            ),
        ),
        migrations.AddIndex(
            model_name="pendingevaluation",
            index=models.Index(fields=["project", "state", "response_id"], name="pending_eval_response"),
        ),
        migrations.AddIndex(
            model_name="pendingevaluation",
            index=models.Index(fields=["state", "received_at"], name="pending_eval_state_received"),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddConstraint(
                    model_name="trace",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("trace_id", ""), _negated=True), name="trace_id_not_empty"
                    ),
                ),
            ],
            database_operations=[migrations.RunSQL(FORWARD_SQL, REVERSE_SQL)],
        ),
    ]
