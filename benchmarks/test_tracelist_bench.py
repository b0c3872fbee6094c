"""Benchmark: the trace list at 1,000,000 traces: the page (with its filter choices), the list API and its bytes,
search, the sessions list, and the list API while ingest and evaluation run.

Data: benchmarks/metrics_data.py with text (one project, BENCH_LIST_TRACES traces over 30 days, default 1,000,000,
inputs and outputs of 0.3–2 KB, sessions of 4 traces, 3 scores each), in its own database BENCH_DB_NAME. With
BENCH_KEEP_DB=1 the database is kept and the next run reuses the data (generating it takes minutes); it is migrated
first, so new migrations apply. The work runs in a subprocess against that database (benchmarks/tracelist_run.py);
server time is in-process (Django's handler, no network), cold then the median of BENCH_LIST_REPEAT warm calls.
The concurrent run starts BENCH_LIST_LOAD_PROCS processes that ingest 20-trace batches and evaluate each (the
default evaluators, in-process) at BENCH_LIST_LOAD_RATE traces/s together (default 50; 0: as fast as they can)
while the list API and page are timed. Speed is reported (stdout and BENCH_LIST_REPORT),
never asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import psycopg
from django.conf import settings

from benchmarks.harness import PYTHON, ROOT, BenchDatabase, machine_summary, manage

TRACES = int(os.environ.get("BENCH_LIST_TRACES", "1000000"))
REPEAT = int(os.environ.get("BENCH_LIST_REPEAT", "9"))
LOAD_PROCS = int(os.environ.get("BENCH_LIST_LOAD_PROCS", "2"))
LOAD_SECONDS = int(os.environ.get("BENCH_LIST_LOAD_SECONDS", "40"))
# Traces/s ingested and evaluated (all processes together) during the concurrent run; 0: as fast as they can.
LOAD_RATE = float(os.environ.get("BENCH_LIST_LOAD_RATE", "50"))
REPORT = Path(os.environ.get("BENCH_LIST_REPORT", "/tmp/bench_tracelist_report.md"))
SCRIPT = str(ROOT / "benchmarks" / "tracelist_run.py")
TARGETS = {"list page": 100.0, "API limit=50": 15.0}


def _exists(db: BenchDatabase) -> bool:
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db.name]).fetchone() is not None


def _run(env: dict[str, str], *args: str, timeout: float = 7200) -> dict:
    proc = subprocess.run([PYTHON, SCRIPT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"tracelist_run.py {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _rows(results: dict[str, dict]) -> list[str]:
    lines = [
        "| request | cold | warm median | warm p90 | warm max | Python CPU (median) | bytes |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        target = f" (target < {TARGETS[name]:.0f} ms)" if name in TARGETS else ""
        lines.append(
            f"| {name}{target} | {r['cold_ms']:.1f} ms | {r['median_ms']:.1f} ms | {r['p90_ms']:.1f} ms "
            f"| {r['max_ms']:.1f} ms | {r.get('cpu_ms', 0.0):.1f} ms | {r['bytes']:,} |"
        )
    return lines


def test_trace_list_search_and_sessions_at_a_million_traces():
    db = BenchDatabase.beside(settings.DATABASES["default"], os.environ.get("BENCH_DB_NAME", "sightline_bench"))
    keep = os.environ.get("BENCH_KEEP_DB", "") in {"1", "true", "yes"}
    env = {**os.environ, "DATABASE_URL": db.url, "DEBUG": "0"}
    if not (keep and _exists(db)):
        db.recreate()
    try:
        manage(["migrate", "--noinput", "-v", "0"], env)
        prepared = _run(env, "prepare", str(TRACES))
        lines = [
            f"# Trace list benchmark ({TRACES:,} traces, 30 days, one project)",
            "",
            machine_summary(),
            "",
            f"- data: {'reused from a kept database' if prepared['reused'] else 'generated'}"
            f" ({prepared['generate_s']:.0f} s)",
            "",
            "Server time, in-process, one request at a time:",
            "",
        ]
        quiet = _run(env, "measure", str(REPEAT))
        lines += _rows(quiet)
        load_avg = os.getloadavg()[0]
        loaders = [
            subprocess.Popen([PYTHON, SCRIPT, "load", str(LOAD_SECONDS), str(LOAD_RATE / LOAD_PROCS)], cwd=ROOT,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(LOAD_PROCS)
        ]  # fmt: skip
        time.sleep(3)  # the loaders start and take their first batches
        busy = _run(env, "measure-api", str(REPEAT * 3))
        ingested = []
        for proc in loaders:
            out, err = proc.communicate(timeout=LOAD_SECONDS + 120)
            assert proc.returncode == 0, err[-2000:]
            ingested.append(json.loads(out.strip().splitlines()[-1]))
        traces = sum(i["traces"] for i in ingested)
        achieved = sum(i["rate"] for i in ingested)
        asked = f"at {LOAD_RATE:g} traces/s asked, {achieved:.1f} achieved" if LOAD_RATE else "as fast as they can"
        lines += [
            "",
            f"While {LOAD_PROCS} processes ingest and evaluate ({traces:,} traces in {LOAD_SECONDS} s, {asked}; "
            f"20-trace batches, the default evaluators run in-process after each; load average {load_avg:.1f} → "
            f"{os.getloadavg()[0]:.1f}):",
            "",
        ]
        lines += _rows(busy)
        report = "\n".join(lines) + "\n"
        REPORT.write_text(report)
        print("\n" + report)
    finally:
        if not keep:
            db.drop()
