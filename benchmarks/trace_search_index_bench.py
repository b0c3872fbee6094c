"""Bench: the trace search's trigram GIN indexes, three per column (kept) against one combined or multicolumn (tried).

Run against a migrated database of its own (DATABASE_URL, e.g. sightline_bench_NAME) holding one project:
    python benchmarks/trace_search_index_bench.py insert   # trace-row INSERT cost and index bytes, A/B alternating
    python benchmarks/trace_search_index_bench.py search   # list search latency and plans on one big partition
Texts are 1–3 KB of words drawn from README.md (realistic trigram variety, unlike repeated templates). Figures
are printed, never asserted: the machine is shared, so compare the alternating runs, not absolute times.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.db import connection, transaction  # noqa: E402

from apps.core.partitions import partition_create  # noqa: E402
from apps.traces.selectors import ListRowsSQL, TraceFilters  # noqa: E402

ROWS = int(os.environ.get("BENCH_GIN_ROWS", "20000"))
BIG = int(os.environ.get("BENCH_GIN_BIG", "100000"))
ROUNDS = int(os.environ.get("BENCH_GIN_ROUNDS", "3"))
# "words": 1–3 KB of README words per text; "dual": the dual bench's root span texts (question, answer).
TEXT = os.environ.get("BENCH_GIN_TEXT", "words")
# The GIN pending list per index, as ingest sets it per transaction (INGEST_GIN_PENDING_LIST_KB); 0: the server's.
PENDING_KB = int(os.environ.get("BENCH_GIN_PENDING_KB", "512"))
TMPL = "gin_tmpl" if TEXT == "words" else f"gin_tmpl_{TEXT}"
DAY = date(2026, 11, 20)
OLD = {
    "trace_name_trgm": "name gin_trgm_ops",
    "trace_input_trgm": "input_text gin_trgm_ops",
    "trace_output_trgm": "output_text gin_trgm_ops",
}
# One multicolumn GIN: one tree and one pending list, entries keyed by (column, trigram); queries as before.
MULTI = {"trace_text_trgm3": "name gin_trgm_ops, input_text gin_trgm_ops, output_text gin_trgm_ops"}
NEW = {"trace_text_trgm": "((name || chr(31) || input_text || chr(31) || output_text)) gin_trgm_ops"}
WORDS_TEXT = "array_to_string(ARRAY(SELECT w[1 + floor(random() * array_length(w, 1))::int] FROM generate_series(1, {n}) s), ' ')"

# The trace columns but id (a new one from the sequence) and input_text (varied) in the big partition's copies.
COLUMNS = (
    "project_id, trace_id, started_at, partition_at, ended_at, created_at, updated_at, name, route, environment, "
    "model, provider, prompt_name, prompt_version, release, user_id, session_id, tags, metadata, output_text, "
    "latency_ms, status, error, input_tokens, output_tokens, total_tokens, cost, cost_source, span_count, "
    "root_span_id, has_feedback"
)
TEMPLATE_SQL = f"""
INSERT INTO gin_tmpl (id, project_id, trace_id, started_at, partition_at, ended_at, created_at, updated_at, name,
    route, environment, model, provider, prompt_name, prompt_version, release, user_id, session_id, tags, metadata,
    input_text, output_text, latency_ms, status, error, input_tokens, output_tokens, total_tokens, cost, cost_source,
    span_count, root_span_id, has_feedback)
SELECT g, %(project)s, md5('t' || g), t, t, t + interval '1 second', now(), now(),
    (ARRAY['chat', 'rag.answer', 'summarize', 'classify ticket'])[1 + g %% 4], 'route-' || g %% 8, 'production',
    'model-' || g %% 3, 'openai', 'support', 'v1', '', 'user-' || g %% 5000, 's-' || g / 4, '{{}}', '{{}}'::jsonb,
    {WORDS_TEXT.format(n="75 + (g * 7919) %% 225 + 0 * g")}, {WORDS_TEXT.format(n="75 + (g * 104729) %% 225 + 0 * g")},
    300, 'ok', '', 100, 50, 150, 0.001, 'reported', 3, '', false
FROM (SELECT g, %(day)s::timestamptz + (g %% 86000) * interval '1 second' AS t FROM generate_series(1, %(rows)s) g) x,
     (SELECT %(words)s::text[] AS w) v
"""


def backend_cpu(cursor) -> float:  # noqa: ANN001
    """CPU seconds (user + system) of this connection's backend so far."""
    cursor.execute("SELECT pg_backend_pid()")
    fields = Path(f"/proc/{cursor.fetchone()[0]}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def index_bytes(cursor, table: str, names: list[str]) -> int:  # noqa: ANN001
    cursor.execute(
        "SELECT coalesce(sum(pg_relation_size(indexrelid)), 0) FROM pg_index WHERE indrelid = %s::regclass "
        "AND indexrelid::regclass::text = ANY(%s)",
        [table, names],
    )
    return int(cursor.fetchone()[0])


def template(cursor) -> None:  # noqa: ANN001
    """The rows every run inserts: ROWS traces of 1–3 KB input and output text each, built once."""
    words = sorted(set(re.findall(r"[A-Za-z][A-Za-z'-]{1,20}", (Path(__file__).parents[1] / "README.md").read_text())))
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [TMPL])
    if cursor.fetchone()[0]:
        return
    cursor.execute(f"CREATE TABLE {TMPL} (LIKE traces_trace INCLUDING DEFAULTS)")
    day = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    sql = TEMPLATE_SQL.replace("INSERT INTO gin_tmpl ", f"INSERT INTO {TMPL} ")
    cursor.execute(sql, {"project": project_id(cursor), "day": day, "rows": ROWS, "words": words})
    if TEXT == "dual":
        from benchmarks.payloads import _text

        rng = random.Random(102)
        cursor.execute("CREATE TEMP TABLE gin_dual (g bigint, i text, o text)")
        with cursor.cursor.copy("COPY gin_dual FROM STDIN") as copy:
            for g in range(1, ROWS + 1):
                copy.write_row((g, _text(rng, rng.randint(80, 160)), _text(rng, 120)))
        cursor.execute(
            f"UPDATE {TMPL} t SET name = 'answer_question', input_text = d.i, output_text = d.o "
            "FROM gin_dual d WHERE d.g = t.id"
        )
    cursor.execute(f"SELECT avg(length(input_text)), avg(length(output_text)), %s FROM {TMPL}", [len(words)])
    avg_in, avg_out, n_words = cursor.fetchone()
    print(f"template: avg input {avg_in:.0f} chars, output {avg_out:.0f} chars, {n_words} words")


def project_id(cursor) -> int:  # noqa: ANN001
    cursor.execute("SELECT min(id) FROM projects_project")
    return cursor.fetchone()[0]


def bench_insert() -> None:
    """INSERT … SELECT of ROWS trace rows into copies of the trace table with each trigram index set."""
    with connection.cursor() as cursor:
        template(cursor)
        if PENDING_KB:
            cursor.execute(f"SET gin_pending_list_limit = '{PENDING_KB}kB'")
        for variant, indexes in (("old", OLD), ("new", NEW), ("none", {}), ("multi", MULTI)):
            table = f"gin_ins_{variant}"
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(f"CREATE TABLE {table} (LIKE {TMPL} INCLUDING DEFAULTS)")
            # The b-tree and tags indexes of the trace table, as a partition has them.
            cursor.execute(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                "WHERE indrelid = 'traces_trace'::regclass AND pg_get_indexdef(indexrelid) NOT LIKE '%%gin_trgm_ops%%'"
            )
            for name, definition in cursor.fetchall():
                definition = definition.replace(" ON ONLY public.traces_trace ", f" ON {table} ")
                cursor.execute(definition.replace(f"INDEX {name} ", f"INDEX {table}_{name} "))
            for name, expression in indexes.items():
                cursor.execute(f"CREATE INDEX {table}_{name} ON {table} USING gin ({expression})")
        results: dict[str, list[tuple[float, float]]] = {"old": [], "new": [], "none": [], "multi": []}
        sizes: dict[str, int] = {}
        orders = [("old", "new", "multi", "none"), ("new", "multi", "none", "old"), ("multi", "none", "old", "new")]
        for r in range(ROUNDS):
            for variant in orders[r % 3]:
                table = f"gin_ins_{variant}"
                cursor.execute(f"TRUNCATE {table}")
                cpu, wall = backend_cpu(cursor), time.perf_counter()
                with transaction.atomic():
                    cursor.execute(f"INSERT INTO {table} SELECT * FROM {TMPL}")
                wall, cpu = time.perf_counter() - wall, backend_cpu(cursor) - cpu
                results[variant].append((wall, cpu))
                names = [f"{table}_{n}" for n in {"old": OLD, "new": NEW, "multi": MULTI, "none": {}}[variant]]
                sizes[variant] = index_bytes(cursor, table, names)
                print(f"round {r + 1} {variant:4}: wall {wall:.2f} s, backend CPU {cpu:.2f} s", flush=True)
        for variant, runs in results.items():
            wall = statistics.median(w for w, _ in runs) / ROWS * 1000
            cpu = statistics.median(c for _, c in runs) / ROWS * 1000
            print(f"{variant:4}: median {wall:.3f} ms wall, {cpu:.3f} ms backend CPU per row; ", end="")
            print(f"trigram index bytes per row as inserted {sizes[variant] / ROWS:.0f}")
        for variant, indexes in (("old", OLD), ("new", NEW), ("multi", MULTI)):
            table = f"gin_ins_{variant}"
            cursor.execute(f"VACUUM {table}")
            names = [f"{table}_{n}" for n in indexes]
            print(f"{variant}: trigram index bytes per row after VACUUM {index_bytes(cursor, table, names) / ROWS:.0f}")


def new_where(text: str) -> tuple[str, list[str]]:
    """The search condition tried with one combined index: the trace id, or ILIKE on the combined text."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    cols = " || chr(31) || ".join(f'"traces_trace"."{c}"' for c in ("name", "input_text", "output_text"))
    return f'("traces_trace"."trace_id" = %s OR ({cols}) ILIKE %s)', [text.lower(), pattern]


def list_sql(text: str, *, old: bool) -> tuple[str, list]:
    """The list API's first page (one day) for `q`, as ListRowsSQL writes it (with the combined condition if not `old`)."""
    since = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    filters = TraceFilters(q=text, since=since, until=since + timedelta(days=1))
    with connection.cursor() as cursor:
        listed = ListRowsSQL.build(
            project_id=project_id(cursor), filters=filters, cursor="", preview_chars=200, content=False
        )
    where, params = list(listed.where), list(listed.params)
    if not old:
        # The q clause is the last one: replace it (and its parameters) by the combined form.
        clause, clause_params = new_where(text)
        where[-1], params = clause, params[: -where[-1].count("%s")] + clause_params
    order = '"traces_trace"."started_at" DESC, "traces_trace"."id" DESC'
    return f"{listed.select} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT 51", params


def bench_search() -> None:
    """Fill one day partition with BIG traces, build both index sets, time the list search with each alone."""
    with connection.cursor() as cursor:
        template(cursor)
        partition_create("traces_trace", DAY)
        partition = f"traces_trace_p{DAY:%Y%m%d}"
        cursor.execute(f"SELECT count(*) FROM {partition}")
        if cursor.fetchone()[0] < BIG:
            # Indexes are built on the filled table (one bulk build each), not entry by entry on insert.
            for name in NEW:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
            cursor.execute(
                f"INSERT INTO traces_trace ({COLUMNS}, input_text) SELECT {COLUMNS.replace('trace_id', 'md5(trace_id || k)')}, "
                "input_text || CASE WHEN (g.id * 31 + k) % 10000 = 7 THEN ' The customer mentions a kangaroo logo.' "
                "ELSE '' END "
                f"FROM gin_tmpl g, generate_series(1, {BIG // ROWS}) k"
            )
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for name, expression in {**OLD, **NEW}.items():
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON traces_trace USING gin ({expression})")
        cursor.execute(f"ANALYZE {partition}")
        cursor.execute(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent::regclass::text = ANY(%s)",
            [[*OLD, *NEW]],
        )
        for name, size in cursor.fetchall():
            if size > 100_000:
                print(f"{name}: {size / 1e6:.1f} MB")
    # Rare (1 trace in 10,000), common (README words hold "partition": ~60 % of traces), and no match at all.
    terms = ["a kangaroo logo", "partition", "xylophonequartz"]
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(ROUNDS * 2):
        for variant in ("old", "new") if r % 2 == 0 else ("new", "old"):
            with transaction.atomic(), connection.cursor() as cursor:
                for name in NEW if variant == "old" else OLD:
                    cursor.execute(f"DROP INDEX {name}")  # rolled back: each set alone, same heap and cache
                for term in terms:
                    sql, params = list_sql(term, old=variant == "old")
                    started = time.perf_counter()
                    cursor.execute(sql, params)
                    rows = len(cursor.fetchall())
                    times.setdefault((term, variant), []).append((time.perf_counter() - started) * 1000)
                    if r == ROUNDS * 2 - 1:
                        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
                        plan = "\n".join(row[0] for row in cursor.fetchall())
                        print(f"--- {variant} q={term} ({rows} rows)\n{plan}")
                transaction.set_rollback(True)
    for term in terms:
        old, new = statistics.median(times[term, "old"]), statistics.median(times[term, "new"])
        print(f"q={term}: old {old:.1f} ms, new {new:.1f} ms (median of {ROUNDS * 2}; new/old {new / old:.2f})")


if __name__ == "__main__":
    {"insert": bench_insert, "search": bench_search}[sys.argv[1]]()
