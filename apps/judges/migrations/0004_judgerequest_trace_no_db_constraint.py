"""Judge requests keep their trace's id without a database foreign key: traces become partitioned."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("judges", "0003_judgerequest_moved_from_evaluators"),
        ("traces", "0003_pending_evaluations_response_id_index_trace_id_check"),
    ]
    # The constraint must be gone before traces_trace is rebuilt as a partitioned table.
    run_before = [("traces", "0004_partition_traces_and_spans")]

    operations = [
        migrations.AlterField(
            model_name="judgerequest",
            name="trace",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="traces.trace",
            ),
        ),
    ]
