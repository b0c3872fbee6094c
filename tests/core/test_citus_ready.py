"""The big tables can be distributed by project_id (Citus) as they are: every unique key leads with project_id."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.core.partitions import PARTITION_COLUMN, PARTITIONED_TABLES

pytestmark = pytest.mark.django_db

# Every unique index (primary keys included) of the tables and of each of their partitions.
UNIQUE_INDEXES_SQL = """
SELECT t.relname, i.relname, x.indisprimary,
       array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n)::text[]
FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indisunique AND (t.oid = ANY(%(tables)s::regclass[])
      OR t.oid IN (SELECT relid FROM pg_partition_tree(%(first)s::regclass) UNION ALL
                   SELECT relid FROM pg_partition_tree(%(second)s::regclass) UNION ALL
                   SELECT relid FROM pg_partition_tree(%(third)s::regclass)))
"""


def _unique_indexes() -> list[tuple[str, str, bool, list[str]]]:
    first, second, third = PARTITIONED_TABLES
    with connection.cursor() as cursor:
        cursor.execute(
            UNIQUE_INDEXES_SQL, {"tables": list(PARTITIONED_TABLES), "first": first, "second": second, "third": third}
        )
        return cursor.fetchall()


def test_every_unique_index_and_primary_key_starts_with_project_id_and_holds_the_partition_column():
    rows = _unique_indexes()
    tables = {table for table, *_ in rows}
    assert set(PARTITIONED_TABLES) <= tables  # the parents, and their partitions below
    assert any(table.endswith("_default") for table in tables)
    assert {table for table, _, primary, _ in rows if primary} == tables  # every table has its primary key
    for table, index, _, columns in rows:
        assert columns[0] == "project_id", f"{table}.{index} starts with {columns[0]}"
        assert PARTITION_COLUMN in columns, f"{table}.{index} lacks {PARTITION_COLUMN}"


def test_no_foreign_key_points_at_a_partitioned_table():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' "
            "AND confrelid = ANY(%s::regclass[])",
            [list(PARTITIONED_TABLES)],
        )
        assert cursor.fetchall() == []


def test_large_text_and_json_columns_use_lz4_where_the_server_has_it():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, attcompression FROM pg_attribute WHERE attrelid = 'traces_span'::regclass "
            "AND attname IN ('input_messages', 'output_messages', 'attributes', 'input_text')"
        )
        compression = dict(cursor.fetchall())
        cursor.execute("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")
        server_has_lz4 = cursor.fetchone() is not None
    assert set(compression.values()) == ({"l"} if server_has_lz4 else {""})
