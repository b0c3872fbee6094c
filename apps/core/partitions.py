"""Daily time partitions of the big tables (traces, spans, scores): a small manager of our own.

PostgreSQL declarative RANGE partitioning on `partition_at`, one partition per UTC day, named
`<table>_pYYYYMMDD`, plus a DEFAULT partition `<table>_default` so a row for a day without a partition is
never refused. The beat job (`partitions_maintain`) creates the partitions of the next PARTITION_DAYS_AHEAD
days; creating a partition moves the rows of its day out of DEFAULT in the same transaction, so DEFAULT only
ever holds what arrived in a gap (or far outside the window: clock skew) and is reported until split out.

Core knows the tables only by name (core never imports the apps that own them).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

PARTITION_COLUMN = "partition_at"
# Every time-partitioned table, in the order a retention drop removes them (children before parents).
PARTITIONED_TABLES = ("traces_span", "scores_score", "traces_trace")
_DAY_NAME = re.compile(r"_p(\d{8})$")


@dataclass(frozen=True)
class Partition:
    """One attached partition: its table name and its [start, end) range (None for DEFAULT)."""

    name: str
    start: datetime | None
    end: datetime | None

    @property
    def is_default(self) -> bool:
        return self.start is None


def day_start(day: date) -> datetime:
    """The UTC midnight that starts `day`."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def partition_name(table: str, day: date) -> str:
    """The name of `table`'s partition for `day`."""
    return f"{table}_p{day:%Y%m%d}"


def default_name(table: str) -> str:
    """The name of `table`'s DEFAULT partition."""
    return f"{table}_default"


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def is_partitioned(table: str) -> bool:
    """Whether `table` exists as a partitioned table."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return bool(row) and row[0] == "p"


def partitions_list(table: str) -> list[Partition]:
    """The partitions attached to `table`, DEFAULT first, then by day (from their names: this manager's own)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname",
            [table],
        )
        rows = cursor.fetchall()
    parts = []
    for name, bound in rows:
        if bound == "DEFAULT":
            parts.insert(0, Partition(name, None, None))
            continue
        match = _DAY_NAME.search(name)
        if match:
            digits = match.group(1)
            start = day_start(date(int(digits[:4]), int(digits[4:6]), int(digits[6:])))
            parts.append(Partition(name, start, start + timedelta(days=1)))
    return parts


def _columns(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum",
            [table],
        )
        return ", ".join(_q(r[0]) for r in cursor.fetchall())


def _statistics_targets_copy(cursor, table: str, name: str) -> None:  # noqa: ANN001 - a DB-API cursor
    """Give partition `name` the per-column statistics targets set on `table` (LIKE does not copy them).

    Stored content no plan reads is set to 0 on the parents (migrations traces.0009, scores.0010), so ANALYZE
    skips it; a partition made later must skip it too.
    """
    cursor.execute(
        "SELECT attname, attstattarget FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
        "AND NOT attisdropped AND attstattarget >= 0 ORDER BY attnum",
        [table],
    )
    targets = cursor.fetchall()
    if targets:
        alters = ", ".join(f"ALTER COLUMN {_q(column)} SET STATISTICS {int(target)}" for column, target in targets)
        cursor.execute(f"ALTER TABLE {_q(name)} {alters}")


def partition_create(table: str, day: date) -> bool:
    """Create `table`'s partition for `day` unless it exists, moving that day's rows out of DEFAULT.

    One short transaction: the new table is filled from DEFAULT, then attached (the attach checks DEFAULT
    holds no row of the range, which the move just made true). A lock wait beyond PARTITION_LOCK_TIMEOUT_MS
    fails the call (the next run retries) instead of queueing ingest behind it. Return True if created.
    """
    name = partition_name(table, day)
    start, end = day_start(day), day_start(day + timedelta(days=1))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        if cursor.fetchone()[0]:
            return False
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{settings.PARTITION_LOCK_TIMEOUT_MS}ms"])
        cursor.execute(
            f"CREATE TABLE {_q(name)} (LIKE {_q(table)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            "INCLUDING STORAGE INCLUDING COMPRESSION)"
        )
        _statistics_targets_copy(cursor, table, name)
        default = default_name(table)
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [default])
        if cursor.fetchone()[0]:
            cols = _columns(table)
            cursor.execute(
                f"WITH moved AS (DELETE FROM {_q(default)} WHERE {PARTITION_COLUMN} >= %s AND {PARTITION_COLUMN} < %s "
                f"RETURNING {cols}) INSERT INTO {_q(name)} ({cols}) SELECT {cols} FROM moved",
                [start, end],
            )
            if cursor.rowcount:
                logger.warning("partition %s created late: %s rows moved out of %s", name, cursor.rowcount, default)
        cursor.execute(
            f"ALTER TABLE {_q(table)} ATTACH PARTITION {_q(name)} FOR VALUES FROM (%s) TO (%s)", [start, end]
        )
    return True


def partition_drop(table: str, partition: Partition) -> None:
    """Detach and drop one day partition (never DEFAULT), waiting at most PARTITION_LOCK_TIMEOUT_MS for locks."""
    if partition.is_default:
        raise ValueError("the DEFAULT partition is never dropped")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{settings.PARTITION_LOCK_TIMEOUT_MS}ms"])
        cursor.execute(f"ALTER TABLE {_q(table)} DETACH PARTITION {_q(partition.name)}")
        cursor.execute(f"DROP TABLE {_q(partition.name)}")
    logger.info("partition %s dropped (retention)", partition.name)


def _default_days(table: str, *, until: date) -> list[date]:
    """Days (up to `until`) that have rows waiting in `table`'s DEFAULT partition."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT (({PARTITION_COLUMN} AT TIME ZONE 'UTC')::date) FROM {_q(default_name(table))} "
            f"WHERE {PARTITION_COLUMN} < %s ORDER BY 1",
            [day_start(until + timedelta(days=1))],
        )
        return [r[0] for r in cursor.fetchall()]


def partitions_ensure(*, now: datetime | None = None, days_ahead: int | None = None) -> list[str]:
    """Create every table's partitions from today to `days_ahead` days on, and for days waiting in DEFAULT."""
    today = (now or timezone.now()).astimezone(UTC).date()
    ahead = settings.PARTITION_DAYS_AHEAD if days_ahead is None else days_ahead
    last = today + timedelta(days=ahead)
    created = []
    for table in PARTITIONED_TABLES:
        if not is_partitioned(table):
            continue
        days = {today + timedelta(days=i) for i in range(ahead + 1)}
        days.update(_default_days(table, until=last))  # late or early rows: split out of DEFAULT
        for day in sorted(days):
            if partition_create(table, day):
                created.append(partition_name(table, day))
    return created


@dataclass(frozen=True)
class PartitionGap:
    """A problem of one table's partitions: days ahead without a partition, rows parked in DEFAULT."""

    table: str
    missing_days: list[date]
    default_rows: int

    def __str__(self) -> str:
        parts = []
        if self.missing_days:
            parts.append(f"no partition for {', '.join(d.isoformat() for d in self.missing_days)}")
        if self.default_rows:
            parts.append(f"{self.default_rows} rows in {default_name(self.table)}")
        return f"{self.table}: {'; '.join(parts)}"


def partitions_gaps(*, now: datetime | None = None, days_ahead: int | None = None) -> list[PartitionGap]:
    """Tables whose partitions do not cover today..today+days_ahead, or whose DEFAULT holds rows."""
    today = (now or timezone.now()).astimezone(UTC).date()
    ahead = settings.PARTITION_DAYS_AHEAD if days_ahead is None else days_ahead
    gaps = []
    for table in PARTITIONED_TABLES:
        if not is_partitioned(table):
            continue
        have = {p.start.date() for p in partitions_list(table) if not p.is_default}
        missing = [today + timedelta(days=i) for i in range(ahead + 1) if today + timedelta(days=i) not in have]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM (SELECT 1 FROM {_q(default_name(table))} LIMIT 100000) d")
            default_rows = cursor.fetchone()[0]
        if missing or default_rows:
            gaps.append(PartitionGap(table, missing, default_rows))
    return gaps


def partitions_maintain(*, now: datetime | None = None) -> list[PartitionGap]:
    """The beat job: create partitions ahead, then log what is still not covered and keep it for /readyz."""
    from django.core.cache import cache

    try:
        partitions_ensure(now=now)
    except Exception:  # a lock timeout: reported below as a gap, retried next run
        logger.exception("creating partitions failed")
    gaps = partitions_gaps(now=now)
    for gap in gaps:
        logger.warning("partition gap: %s", gap)
    cache.set(GAPS_CACHE_KEY, [str(g) for g in gaps], timeout=3 * 3600)
    return gaps


# Per partition: rows at its last ANALYZE (-1 never analyzed: PostgreSQL 14+), and rows changed since.
_ANALYZE_STATE_SQL = (
    "SELECT c.relname, c.reltuples, coalesce(s.n_mod_since_analyze, 0) FROM unnest(%s::text[]) AS n(name) "
    "JOIN pg_class c ON c.oid = to_regclass(n.name) LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid "
    "ORDER BY c.relname"
)


def partitions_analyze(
    *, now: datetime | None = None, days: tuple[int, ...] = (0, 1), min_rows: int | None = None
) -> list[str]:
    """ANALYZE the day partitions being written (today's and tomorrow's) when their statistics are missing or stale.

    autovacuum may be off (or behind a fast-growing day), and a partition created ahead has no statistics at all:
    then `id = ANY(…)` and `trace_id = ANY(…)` lookups (ingest, score refresh and upsert, rollups) estimate the
    day as a few pages or each key as 0.5 % of it and read the whole day. A partition is analyzed when it never
    was, or when at least `min_rows` (PARTITION_ANALYZE_MIN_ROWS) and PARTITION_ANALYZE_FRACTION_PCT % of its
    rows at the last ANALYZE changed since. ANALYZE samples a bounded number of rows (cheap on a big day) and
    takes a lock inserts do not wait on. Missing partitions are skipped; a second run with nothing written in
    between does nothing. Returns the partitions analyzed.
    """
    today = (now or timezone.now()).astimezone(UTC).date()
    floor = settings.PARTITION_ANALYZE_MIN_ROWS if min_rows is None else min_rows
    fraction = settings.PARTITION_ANALYZE_FRACTION_PCT / 100
    names = [partition_name(t, today + timedelta(days=d)) for t in PARTITIONED_TABLES for d in days]
    with connection.cursor() as cursor:
        cursor.execute(_ANALYZE_STATE_SQL, [names])
        state = cursor.fetchall()
    analyzed = []
    for name, reltuples, changed in state:
        if reltuples >= 0 and (not changed or changed < max(floor, fraction * reltuples)):
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {_q(name)}")
        analyzed.append(name)
    if analyzed:
        logger.info("partitions analyzed: %s", ", ".join(analyzed))
    return analyzed


ANALYZE_DUE_CACHE_KEY = "partitions:analyze-due"


def partitions_analyze_due(*, project_id: int, trace_pks: list[int]) -> list[str]:
    """Post-ingest consumer: run partitions_analyze at most once per PARTITION_ANALYZE_INTERVAL_S over all workers.

    The beat job runs it every minute from the minute beat starts; from the ingest path a new day's partitions get
    their first statistics with its first batches (a few hundred rows are enough: a unique column's distinct count
    is kept as a fraction, so the estimates follow the day as it grows). The cache key is the shared throttle;
    with the cache down the check runs (it is one catalog query when nothing is due).
    """
    try:
        if not cache.add(ANALYZE_DUE_CACHE_KEY, 1, timeout=settings.PARTITION_ANALYZE_INTERVAL_S):
            return []
    except Exception:  # noqa: BLE001 - the cache down is reported by the redis check
        pass
    return partitions_analyze()


def partitions_gaps_reported() -> list[str]:
    """The gaps the last maintenance run found (read by /readyz; empty when none or not run yet)."""
    from django.core.cache import cache

    try:
        return list(cache.get(GAPS_CACHE_KEY) or [])
    except Exception:  # noqa: BLE001 - the cache down is reported by the redis check
        return []


# -- converting a table (migrations) ---------------------------------------------------------------------------


def _table_rebuild(cursor, table: str, *, partitioned: bool, ahead_days: int | None = None) -> None:  # noqa: ANN001
    """Rebuild `table` as a partitioned table (or back as a plain one), keeping every row, index, constraint, trigger.

    Index and constraint definitions are read from the catalog, the rows copied with INSERT … SELECT, then
    the primary key, constraints and indexes built on the filled table (one bulk build each). The primary key
    becomes (project_id, id, partition_at) partitioned, (id) plain; `id` keeps one sequence either way.
    """
    old = f"{table}__old"
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred trigger event may be pending at ALTER
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
        "WHERE conrelid = to_regclass(%s) AND contype IN ('u', 'c', 'f', 'p') ORDER BY contype, conname",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = to_regclass(%s) AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)",
        [table],
    )
    indexes = cursor.fetchall()
    # User triggers (e.g. the rollups' trace-moved trigger): recreated on the new table once the rows are in.
    cursor.execute(
        "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND NOT tgisinternal",
        [table],
    )
    triggers = cursor.fetchall()
    # Foreign keys of other tables that point at this one cannot point at a partitioned table by id.
    cursor.execute(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE confrelid = to_regclass(%s) AND contype = 'f'",
        [table],
    )
    for referencing, conname in cursor.fetchall():
        cursor.execute(f"ALTER TABLE {_q(referencing)} DROP CONSTRAINT {_q(conname)}")
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {_q(table)}")
    max_id = cursor.fetchone()[0]
    cursor.execute(f"ALTER TABLE {_q(table)} RENAME TO {_q(old)}")
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {_q(name)}")
    for name, _, _ in constraints:
        cursor.execute(f"ALTER TABLE {_q(old)} DROP CONSTRAINT {_q(name)}")
    cursor.execute(
        "SELECT attidentity, pg_get_serial_sequence(%s, 'id') FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attname = 'id'",
        [old, old],
    )
    identity, sequence = cursor.fetchone()
    if identity:
        cursor.execute(f"ALTER TABLE {_q(old)} ALTER COLUMN id DROP IDENTITY")
    elif sequence:
        cursor.execute(f"ALTER TABLE {_q(old)} ALTER COLUMN id DROP DEFAULT")
        cursor.execute(f"DROP SEQUENCE {sequence}")
    by = f" PARTITION BY RANGE ({PARTITION_COLUMN})" if partitioned else ""
    cursor.execute(
        f"CREATE TABLE {_q(table)} (LIKE {_q(old)} INCLUDING DEFAULTS INCLUDING STORAGE INCLUDING COMPRESSION){by}"
    )
    seq = f"{table}_id_seq"
    cursor.execute(f"CREATE SEQUENCE {_q(seq)} OWNED BY {_q(table)}.id")
    cursor.execute("SELECT setval(%s, %s, %s)", [seq, max(max_id, 1), max_id > 0])
    cursor.execute(f"ALTER TABLE {_q(table)} ALTER COLUMN id SET DEFAULT nextval(%s::regclass)", [seq])
    if partitioned:
        cursor.execute(f"CREATE TABLE {_q(default_name(table))} PARTITION OF {_q(table)} DEFAULT")
        cursor.execute(f"SELECT DISTINCT (({PARTITION_COLUMN} AT TIME ZONE 'UTC')::date) FROM {_q(old)}")
        today = timezone.now().astimezone(UTC).date()
        ahead = settings.PARTITION_DAYS_AHEAD if ahead_days is None else ahead_days
        days = {r[0] for r in cursor.fetchall()} | {today + timedelta(days=i) for i in range(ahead + 1)}
        for day in sorted(days):
            cursor.execute(
                f"CREATE TABLE {_q(partition_name(table, day))} PARTITION OF {_q(table)} FOR VALUES FROM (%s) TO (%s)",
                [day_start(day), day_start(day + timedelta(days=1))],
            )
    cols = _columns(old)
    cursor.execute(f"INSERT INTO {_q(table)} ({cols}) SELECT {cols} FROM {_q(old)}")
    cursor.execute(f"DROP TABLE {_q(old)}")
    pkey = f"(project_id, id, {PARTITION_COLUMN})" if partitioned else "(id)"
    cursor.execute(f"ALTER TABLE {_q(table)} ADD CONSTRAINT {_q(table + '_pkey')} PRIMARY KEY {pkey}")
    for name, definition, kind in constraints:
        if kind == "p":
            continue
        definition = definition.replace(" NOT VALID", "")
        cursor.execute(f"ALTER TABLE {_q(table)} ADD CONSTRAINT {_q(name)} {definition}")
    for _, definition in indexes:
        cursor.execute(definition.replace(" ON ONLY ", " ON "))  # a partitioned parent's index, built on all
    for _, definition in triggers:  # row triggers of a partitioned table are cloned onto every partition
        cursor.execute(definition)


def table_partition(schema_editor, table: str) -> None:  # noqa: ANN001 - a migration's schema editor
    """Migration step: turn `table` (with a filled partition_at) into a daily-partitioned table."""
    with schema_editor.connection.cursor() as cursor:
        _table_rebuild(cursor, table, partitioned=True)


def table_unpartition(schema_editor, table: str) -> None:  # noqa: ANN001
    """Migration step (reverse): turn a partitioned `table` back into a plain one with primary key (id)."""
    with schema_editor.connection.cursor() as cursor:
        _table_rebuild(cursor, table, partitioned=False)


def columns_compress(schema_editor, table: str, columns: list[str]) -> bool:  # noqa: ANN001
    """Store these columns' TOAST compressed with lz4 where the server was built with it; False if it was not."""
    with schema_editor.connection.cursor() as cursor:
        try:
            with transaction.atomic(using=schema_editor.connection.alias):
                for column in columns:
                    cursor.execute(f"ALTER TABLE {_q(table)} ALTER COLUMN {_q(column)} SET COMPRESSION lz4")
        except Exception as exc:  # noqa: BLE001 - a server without lz4 keeps pglz
            logger.warning("lz4 compression not available, %s keeps pglz: %s", table, exc)
            return False
    return True


# -- retention: drop whole partitions, delete the rest in bounded batches ---------------------------------------

RETENTION_DELETE_BATCH = 5000
GAPS_CACHE_KEY = "partitions:gaps"


def retention_cutoff(*, days: int, now: datetime | None = None) -> datetime:
    """The UTC midnight before which a table with `days` of retention keeps nothing (whole days, partition-aligned)."""
    today = (now or timezone.now()).astimezone(UTC).date()
    return day_start(today - timedelta(days=days))


def partitioned_rows_delete(
    table: str, *, project_id: int, before: datetime, budget_seconds: float, batch_size: int = RETENTION_DELETE_BATCH
) -> int:
    """Delete one project's rows of `table` with partition_at before `before`, `batch_size` per transaction.

    Each statement is its own short transaction (call outside any atomic block) addressing rows by their full
    primary key (project_id, id, partition_at), skipping rows another transaction holds; the time budget ends
    the run and the next run goes on. Returns how many rows were deleted.
    """
    sql = (
        f"DELETE FROM {_q(table)} WHERE (project_id, id, {PARTITION_COLUMN}) IN ("
        f"SELECT project_id, id, {PARTITION_COLUMN} FROM {_q(table)} "
        f"WHERE project_id = %s AND {PARTITION_COLUMN} < %s LIMIT %s FOR UPDATE SKIP LOCKED)"
    )
    deleted = 0
    deadline = time.monotonic() + budget_seconds
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, [project_id, before, batch_size])
            count = cursor.rowcount
        deleted += count
        if count < batch_size or time.monotonic() >= deadline:
            return deleted


@dataclass
class Expiry:
    """What one retention run removed from a table: partitions dropped, rows deleted."""

    dropped: list[str]
    deleted: int


def table_expire(table: str, *, cutoffs: dict[int, datetime], budget_seconds: float | None = None) -> Expiry:
    """Apply per-project retention to a partitioned table.

    A day partition is dropped when it ends at or before every project's cutoff (the whole day is past every
    project's retention); rows older than a project's own cutoff that no drop removed (a project keeping less
    than the longest-keeping one, or rows parked in DEFAULT) are deleted in bounded batches.
    """
    result = Expiry(dropped=[], deleted=0)
    if not cutoffs or not is_partitioned(table):
        return result
    budget = settings.RETENTION_DELETE_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    drop_before = min(cutoffs.values())
    for partition in partitions_list(table):
        if not partition.is_default and partition.end <= drop_before:
            partition_drop(table, partition)
            result.dropped.append(partition.name)
    deadline = time.monotonic() + budget
    for project_id, cutoff in sorted(cutoffs.items()):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        result.deleted += partitioned_rows_delete(table, project_id=project_id, before=cutoff, budget_seconds=left)
    if result.dropped or result.deleted:
        logger.info(
            "retention of %s: %s partitions dropped, %s rows deleted", table, len(result.dropped), result.deleted
        )
    return result


def project_storage_estimate(*, project_id: int, sample_rows: int = 20_000) -> dict[str, int]:
    """Estimated bytes on disk of one project's rows per partitioned table (heap, TOAST and indexes).

    Each table's on-disk size (all partitions) is shared out by the project's part of the row bytes
    (pg_column_size) in a TABLESAMPLE of about `sample_rows` rows: cheap on any table size, exact when small.
    """
    out: dict[str, int] = {}
    for table in PARTITIONED_TABLES:
        if to_regclass(table) is None:
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT coalesce(sum(pg_total_relation_size(relid)), 0), coalesce(sum(greatest(c.reltuples, 0)), 0) "
                "FROM pg_partition_tree(%s) JOIN pg_class c ON c.oid = relid WHERE isleaf",
                [table],
            )
            size, tuples = cursor.fetchone()
            percent = min(100.0, max(0.01, 100.0 * sample_rows / tuples)) if tuples else 100.0
            cursor.execute(
                f"SELECT coalesce(sum(pg_column_size(t.*)) FILTER (WHERE t.project_id = %s), 0), "
                f"coalesce(sum(pg_column_size(t.*)), 0) FROM {_q(table)} t TABLESAMPLE SYSTEM (%s)",
                [project_id, percent],
            )
            mine, total = cursor.fetchone()
        out[table] = int(size * mine / total) if total else 0
    return out


def to_regclass(table: str) -> str | None:
    """The table's name if it exists, else None."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)::text", [table])
        return cursor.fetchone()[0]
