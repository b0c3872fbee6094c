"""A score's explanation and metadata get no planner statistics (SET STATISTICS 0, recursing to the partitions).

No statement filters or groups on them; their statistics only made each ANALYZE of a day's scores detoast and
compare them. Partitions created later copy the parent's targets (core.partitions).
"""

from django.db import migrations

COLUMNS = ("explanation", "metadata")


def _alter(target: int) -> str:
    return "ALTER TABLE scores_score " + ", ".join(f"ALTER COLUMN {c} SET STATISTICS {target}" for c in COLUMNS)


class Migration(migrations.Migration):

    dependencies = [
        ('scores', '0009_score_failed_recent'),
    ]

    operations = [migrations.RunSQL(_alter(0), _alter(-1))]
