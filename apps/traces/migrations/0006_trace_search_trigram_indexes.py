"""Full-text search over trace name, input and output: pg_trgm and one trigram GIN index per column."""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("traces", "0005_trace_cost_source_model_price"),
    ]

    operations = [
        TrigramExtension(),  # CREATE EXTENSION IF NOT EXISTS pg_trgm
        # On the partitioned parent: PostgreSQL builds the index on every partition (slow on a big table, once).
        migrations.AddIndex(
            model_name="trace",
            index=GinIndex(fields=["name"], name="trace_name_trgm", opclasses=["gin_trgm_ops"]),
        ),
        migrations.AddIndex(
            model_name="trace",
            index=GinIndex(fields=["input_text"], name="trace_input_trgm", opclasses=["gin_trgm_ops"]),
        ),
        migrations.AddIndex(
            model_name="trace",
            index=GinIndex(fields=["output_text"], name="trace_output_trgm", opclasses=["gin_trgm_ops"]),
        ),
    ]
