"""Where a 100-span OTLP request spends its time, measured in-process against the bench database.

    DATABASE_URL=postgres://…/sightline_bench BENCH_API_KEY=… python benchmarks/profile_ingest.py --batches 30

Run by test_ingest_bench.py after the load runs (it sets the environment). Three passes over fresh
batches of the same shape as the load test, each batch sent once:

1. the whole request through Django's test Client (middleware, auth, view) — wall time per request;
2. the same steps called one by one, with every SQL statement timed by an execute wrapper and the
   commit and broker enqueue timed by wrappers — the per-phase breakdown;
3. cProfile over the view — top functions by own time (cProfile inflates pure-Python parts).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from apps.projects.services import api_key_authenticate  # noqa: E402
from apps.traces import services  # noqa: E402
from apps.traces.normalize import normalize_span  # noqa: E402
from apps.traces.otlp import encode_traces_response, iter_spans, parse_traces_request  # noqa: E402
from benchmarks.payloads import make_batches, make_dual_batches  # noqa: E402

SQL_CATEGORIES = (
    ('INSERT INTO "traces_span"', "SQL: INSERT spans (bulk_create)"),
    # The COPY path (apps/traces/bulk.py): staging table, INSERT … SELECT, traces created from the stage.
    ("CREATE TEMP TABLE IF NOT EXISTS", "SQL: staging table create / empty"),
    ("DELETE FROM sightline_span_stage", "SQL: staging table create / empty"),
    ("INSERT INTO traces_span", "SQL: INSERT spans SELECT … FROM stage ON CONFLICT"),
    ("INSERT INTO traces_trace (project_id, trace_id, created_at", "SQL: INSERT new traces with derived fields"),
    ("INSERT INTO traces_trace", "SQL: INSERT traces ON CONFLICT DO NOTHING"),
    ("SELECT trace_id, id FROM traces_trace", "SQL: SELECT trace ids → pks"),
    ("WITH agg AS", "SQL: trace recompute (UPDATE … WITH agg)"),
    ('INSERT INTO "traces_trace"', "SQL: INSERT traces ON CONFLICT DO NOTHING"),
    ('SELECT "traces_trace"."trace_id"', "SQL: SELECT trace ids → pks"),
    ('SELECT COUNT(*) AS "__count" FROM "traces_span"', "SQL: span COUNT(*) before + after"),
    ('FROM "traces_pendingspancontent"', "SQL: pending log content lookup"),
    ('INSERT INTO "traces_ingestbatch"', "SQL: INSERT ingest batch"),
    ("INSERT INTO traces_ingestbatch", "SQL: INSERT ingest batch"),
    ('FROM "projects_apikey"', "SQL: API key lookup"),
    ('UPDATE "projects_apikey"', "SQL: API key last_used update"),
)


def _category(sql: str) -> str:
    for needle, name in SQL_CATEGORIES:
        if needle in sql:
            return name
    return "SQL: other (" + " ".join(sql.split())[:40] + "…)"


class Clock:
    """Accumulate seconds per label."""

    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    @contextmanager
    def time(self, label: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.total[label] += time.perf_counter() - t0
            self.calls[label] += 1

    def sql_wrapper(self, execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
        with self.time(_category(sql)):
            return execute(sql, params, many, context)


def _wrap(obj: Any, attr: str, clock: Clock, label: str) -> Callable[[], None]:
    """Time every call of obj.attr under `label`; return the undo function."""
    original = getattr(obj, attr)

    def timed(*args: Any, **kwargs: Any) -> Any:
        with clock.time(label):
            return original(*args, **kwargs)

    setattr(obj, attr, timed)
    return lambda: setattr(obj, attr, original)


class _TimedCursor:
    """A psycopg cursor whose execute() is timed like Django's execute wrapper times its cursors."""

    def __init__(self, cursor: Any, clock: Clock) -> None:
        self._cursor, self._clock = cursor, clock

    def execute(self, sql: str, params: Any = None, **kwargs: Any) -> Any:
        with self._clock.time(_category(sql)):
            return self._cursor.execute(sql, params, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def _wrap_bound_cursor(bulk: Any, clock: Clock) -> Callable[[], None]:
    """Time the statements run on bulk.bound_cursor() (server-side binding, outside Django's wrappers)."""
    original = bulk.bound_cursor

    @contextmanager
    def timed():
        with original() as cursor:
            yield _TimedCursor(cursor, clock)

    bulk.bound_cursor = timed
    return lambda: setattr(bulk, "bound_cursor", original)


def pass_client(bodies: list[bytes], api_key: str) -> list[float]:
    client = Client()
    times = []
    for body in bodies:
        t0 = time.perf_counter()
        resp = client.post(
            "/v1/traces", data=body, content_type="application/x-protobuf", HTTP_AUTHORIZATION=f"Bearer {api_key}"
        )
        times.append(time.perf_counter() - t0)
        assert resp.status_code == 200, (resp.status_code, resp.content[:300])
    return times


def pass_phases(bodies: list[bytes], api_key: str) -> tuple[Clock, float]:
    """The view's steps one by one (same calls as otlp_views._ingest_traces), timed."""
    clock = Clock()
    connection.ensure_connection()
    undo = [
        _wrap(connection, "_commit", clock, "SQL: COMMIT"),
        _wrap(services, "ingest_batch_enqueue", clock, "broker: enqueue post-ingest job (on_commit)"),
        _wrap(services, "_trace_rows_ensure", clock, "_spans_ingest_trace_rows"),
        _wrap(services, "_pending_content_take", clock, "_spans_ingest_pending"),
        _wrap(services, "traces_recompute", clock, "_spans_ingest_recompute"),
    ]
    if hasattr(services, "_trace_lookup"):  # trace ids + pending-content flag in one statement
        undo.append(_wrap(services, "_trace_lookup", clock, "_spans_ingest_lookup"))
    bulk = getattr(services, "bulk", None)  # the COPY path; absent on the old bulk_create code
    if bulk is not None:
        undo += [
            _wrap(bulk, "span_rows", clock, "spans_ingest: COPY rows (tuples + JSON text)"),
            _wrap(bulk, "stage_copy", clock, "COPY spans into the staging table (write_row + PG)"),
        ]
        if hasattr(bulk, "bound_cursor"):
            undo.append(_wrap_bound_cursor(bulk, clock))
    t_all = time.perf_counter()
    try:
        with connection.execute_wrapper(clock.sql_wrapper):
            for body in bodies:
                with clock.time("auth: api_key_authenticate (total)"):
                    key = api_key_authenticate(plaintext=api_key, cached=True)  # as the OTLP receiver does
                with clock.time("decode: ParseFromString"):
                    msg = parse_traces_request(body, "application/x-protobuf")
                with clock.time("normalize: iter_spans + normalize_span ×100"):
                    good = [
                        normalize_span(raw, max_value_chars=settings.INGEST_MAX_VALUE_CHARS) for raw in iter_spans(msg)
                    ]
                with clock.time("spans_ingest (total)"):
                    services.spans_ingest(project=key.project, spans=good)
                with clock.time("response: encode"):
                    encode_traces_response("application/x-protobuf", 0, "")
    finally:
        for fn in undo:
            fn()
    return clock, time.perf_counter() - t_all


def pass_cprofile(bodies: list[bytes], api_key: str) -> str:
    client = Client()
    prof = cProfile.Profile()
    prof.enable()
    for body in bodies:
        client.post(
            "/v1/traces", data=body, content_type="application/x-protobuf", HTTP_AUTHORIZATION=f"Bearer {api_key}"
        )
    prof.disable()
    parts = []
    for title, order, restrict in (
        ("by own time", "tottime", ()),
        ("by cumulative time, project code and the ORM insert path", "cumulative", (_CUM_FILTER,)),
    ):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats(order).print_stats(*restrict, 25)
        # Keep the table, drop the preamble noise and the long absolute paths.
        site = str(Path(django.__file__).resolve().parent.parent) + "/"
        lines = [ln.replace(site, "").replace(str(ROOT) + "/", "") for ln in out.getvalue().splitlines()]
        start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
        parts.append(f"-- {title}\n" + "\n".join(lines[start:]).rstrip())
    return "\n\n".join(parts)


_CUM_FILTER = r"apps/|django/db/models/query\.py|psycopg/cursor\.py|django/core/handlers/base\.py"


def storage_per_span() -> list[tuple[str, int, float]]:
    with connection.cursor() as cur:
        cur.execute("SELECT kind, count(*), avg(pg_column_size(s.*)) FROM traces_span s GROUP BY kind ORDER BY kind")
        return list(cur.fetchall())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--out", default="-")
    parser.add_argument("--dual", action="store_true", help="issue 14's load: 300-span dual-convention batches")
    args = parser.parse_args()
    api_key = os.environ["BENCH_API_KEY"]
    n = args.batches
    if args.dual:
        warm, b_client, b_phase, b_prof = (
            make_dual_batches(k * 300, 300, seed=s) for k, s in ((3, 101), (n, 102), (n, 103), (n, 104))
        )
    else:
        warm, b_client, b_phase, b_prof = (make_batches(k, seed=s) for k, s in ((3, 101), (n, 102), (n, 103), (n, 104)))
    spans_per_batch = b_phase[0].spans

    pass_client([b.body for b in warm], api_key)
    client_times = sorted(pass_client([b.body for b in b_client], api_key))
    clock, phase_wall = pass_phases([b.body for b in b_phase], api_key)
    prof_text = pass_cprofile([b.body for b in b_prof], api_key)
    storage = storage_per_span()

    per = {label: secs / n * 1000 for label, secs in clock.total.items()}
    ingest_total = per.pop("spans_ingest (total)")
    sql_in_ingest = sum(
        v for k, v in per.items() if k.startswith("SQL:") and "apikey" not in k.lower() and "API key" not in k
    )
    enqueue = per.get("broker: enqueue post-ingest job (on_commit)", 0.0)
    trace_rows = per.pop("_spans_ingest_trace_rows", 0.0) + per.pop("_spans_ingest_lookup", 0.0)
    pending = per.pop("_spans_ingest_pending", 0.0)
    recompute = per.pop("_spans_ingest_recompute", 0.0)
    sql_trace_rows = (
        per.get("SQL: INSERT traces ON CONFLICT DO NOTHING", 0)
        + per.get("SQL: SELECT trace ids → pks", 0)
        + per.get("SQL: INSERT new traces with derived fields", 0)
    )
    sql_pending = per.get("SQL: pending log content lookup", 0.0)
    sql_recompute = per.get("SQL: trace recompute (UPDATE … WITH agg)", 0.0)
    auth_total = per.pop("auth: api_key_authenticate (total)")
    auth_sql = per.get("SQL: API key lookup", 0) + per.get("SQL: API key last_used update", 0)
    per["auth: Python (hash, ORM)"] = auth_total - auth_sql
    copy_phases = per.get("spans_ingest: COPY rows (tuples + JSON text)", 0.0) + per.get(
        "COPY spans into the staging table (write_row + PG)", 0.0
    )
    per["spans_ingest: Python (Span objects, ORM compile, JSON dumps, dedupe)"] = (
        ingest_total - sql_in_ingest - enqueue - copy_phases
        - (trace_rows - sql_trace_rows) - (pending - sql_pending) - (recompute - sql_recompute)
    )  # fmt: skip
    per["spans_ingest: Python (trace rows, pending, recompute wrappers)"] = (
        (trace_rows - sql_trace_rows) + (pending - sql_pending) + (recompute - sql_recompute)
    )
    phase_total = phase_wall / n * 1000
    accounted = sum(per.values())
    per["(loop overhead / unaccounted)"] = phase_total - accounted

    mean_client = sum(client_times) / len(client_times) * 1000
    lines = [
        f"## Server-side profile: where one {spans_per_batch}-span request spends its time",
        "",
        f"In-process (`benchmarks/profile_ingest.py`, one thread, no load), {n} fresh batches per pass, bench database.",
        f"Whole request through Django's test Client (middleware + auth + view): mean {mean_client:.1f} ms, "
        f"median {client_times[len(client_times) // 2] * 1000:.1f} ms, min {client_times[0] * 1000:.1f} ms.",
        f"Same steps called one by one: {phase_total:.1f} ms per request. `SQL:` rows are the wall time of",
        "`cursor.execute`: with Django's default client-side binding that includes psycopg composing the",
        "query text (quoting every parameter), not only PostgreSQL's work.",
        "",
        "| phase | ms / request | share | calls / request |",
        "|---|---:|---:|---:|",
    ]
    for label, ms in sorted(per.items(), key=lambda kv: -kv[1]):
        calls = clock.calls.get(label, 0) / n
        lines.append(f"| {label} | {ms:.1f} | {ms / phase_total * 100:.0f}% | {calls:.1f} |")
    lines += [
        "",
        "Average stored row size per span kind (pg_column_size, after TOAST compression): "
        + ", ".join(f"{kind} {size:,.0f} B ({count} rows)" for kind, count, size in storage),
        "",
        "<details><summary>cProfile, top functions by own time (" + f"{n} requests via the test Client)</summary>",
        "",
        "```",
        prof_text,
        "```",
        "</details>",
        "",
    ]
    text = "\n".join(lines)
    if args.out == "-":
        print(text)
    else:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
