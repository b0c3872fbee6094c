"""Span content columns get no planner statistics (SET STATISTICS 0 on traces_span, recursing to its partitions).

No statement filters, joins or groups on them, so their statistics steered no plan, yet computing them was most of
an ANALYZE of a day's spans: every sampled row's JSON and text detoasted and compared (3.1 s → 1.3 s for a
30,000-span day of ~4 KB spans). Partitions created later copy the parent's targets (core.partitions). Only
the catalog changes: SHARE UPDATE EXCLUSIVE, which ingest does not wait on.
"""

from django.db import migrations

CONTENT_COLUMNS = (
    "error_message system_instructions input_messages output_messages finish_reasons tool_definitions tool_calls "
    "retrieval_query documents request_params raw_input raw_output input_text output_text attributes resource scope "
    "events truncated evaluations"
).split()


def _alter(target: int) -> str:
    return "ALTER TABLE traces_span " + ", ".join(
        f"ALTER COLUMN {column} SET STATISTICS {target}" for column in CONTENT_COLUMNS
    )


class Migration(migrations.Migration):

    dependencies = [
        ('traces', '0008_span_llm_time_index'),
    ]

    operations = [migrations.RunSQL(_alter(0), _alter(-1))]
