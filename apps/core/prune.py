"""Delete old rows in bounded batches: short statements, no long locks, a time budget per run."""

from __future__ import annotations

import time

from django.db import connection
from django.db.models import QuerySet

PRUNE_BATCH_SIZE = 5000


def rows_delete_in_batches(
    queryset: QuerySet, *, batch_size: int = PRUNE_BATCH_SIZE, budget_seconds: float = 60.0
) -> int:
    """Delete the queryset's rows, at most `batch_size` per statement, until none are left or the budget is spent.

    Each statement is its own transaction (call it outside any atomic block) and skips rows another
    transaction holds (a worker claiming a job), so the prune never waits on a lock and never holds many;
    the WHERE is re-checked under the row lock, so a row whose state changed meanwhile stays. The next run
    finishes what the budget left. Returns how many rows were deleted. The model must have no cascades.
    """
    model = queryset.model
    pk = model._meta.pk.column
    table = model._meta.db_table
    chosen = queryset.select_for_update(skip_locked=True).order_by().values("pk")[:batch_size]
    select_sql, params = chosen.query.sql_with_params()
    sql = f"DELETE FROM {connection.ops.quote_name(table)} WHERE {connection.ops.quote_name(pk)} IN ({select_sql})"
    deleted = 0
    deadline = time.monotonic() + budget_seconds
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            count = cursor.rowcount
        deleted += count
        if count < batch_size or time.monotonic() >= deadline:
            return deleted
