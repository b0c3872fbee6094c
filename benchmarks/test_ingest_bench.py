"""`make bench`: OTLP/protobuf ingest throughput, latency, time-to-queryable and memory of ONE web worker.

Speed is reported, never asserted (these machines are shared and noisy); correctness is asserted:
every request answers 2xx, and every span and trace sent is in the database with complete traces.
The report goes to stdout and to /tmp/bench_report.md (BENCH_REPORT).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.conftest import BenchEnv, env_int
from benchmarks.harness import (
    PYTHON,
    ROOT,
    RssSampler,
    ScenarioResult,
    Server,
    api_get_json,
    machine_summary,
    markdown_table,
    percentile,
    postgres_backends,
    proc_cpu_seconds,
    proc_status_kb,
    redis_flush,
    run_load,
    tail,
)
from benchmarks.payloads import Batch, llm_span_message_bytes

TARGET_SPANS_PER_S = 5_000
TARGET_P99_MS = 250
TARGET_RSS_MB = 300


def _servers() -> list[tuple[str, int]]:
    """BENCH_SERVERS="gthread:2,sync:1" → [("gthread", 2), ("sync", 1)]."""
    out: list[tuple[str, int]] = []
    for item in os.environ.get("BENCH_SERVERS", "gthread:2,sync:1").split(","):
        kind, _, threads = item.strip().partition(":")
        out.append((kind, int(threads or 1) if kind != "sync" else 1))
    return out


def _truncate(env: BenchEnv) -> None:
    """Start every run from empty trace tables (so runs compare, and payloads can be re-sent)."""
    with env.db.connect() as conn:
        conn.execute(
            "TRUNCATE traces_span, traces_trace, scores_score, traces_ingestbatch, traces_pendingspancontent "
            "RESTART IDENTITY CASCADE"
        )
    redis_flush(env.redis_url)


def _stored(env: BenchEnv) -> tuple[int, int, int]:
    """(spans, traces, sum of traces.span_count) for the bench project."""
    with env.db.connect() as conn:
        spans = conn.execute("SELECT count(*) FROM traces_span WHERE project_id = %s", [env.project_id]).fetchone()[0]
        traces, span_count = conn.execute(
            "SELECT count(*), coalesce(sum(span_count), 0) FROM traces_trace WHERE project_id = %s", [env.project_id]
        ).fetchone()
    return spans, traces, span_count


# Bytes on disk of spans + traces (every partition: heap, TOAST, indexes, free space map), after a CHECKPOINT-free
# run: what the rows of one run occupy, as `du` of the tables would show.
DISK_BYTES_SQL = """
SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
WHERE c.relkind = 'r' AND (c.oid IN ('traces_span'::regclass, 'traces_trace'::regclass)
    OR c.oid IN (SELECT relid FROM pg_partition_tree('traces_span') UNION ALL
                 SELECT relid FROM pg_partition_tree('traces_trace')))
"""


def _disk_per_span(env: BenchEnv, batches: list[Batch]) -> str:
    """One line: bytes on disk per stored span (spans + traces, lz4 TOAST where available) beside the OTLP bytes."""
    with env.db.connect() as conn:
        disk = conn.execute(DISK_BYTES_SQL).fetchone()[0]
        spans = conn.execute("SELECT count(*) FROM traces_span").fetchone()[0]
        compression = conn.execute(
            "SELECT attcompression FROM pg_attribute WHERE attrelid = 'traces_span'::regclass "
            "AND attname = 'input_messages'"
        ).fetchone()[0]
    raw = sum(len(b.body) for b in batches)
    sent = sum(b.spans for b in batches)
    if not spans:
        return "Storage: no spans stored."
    return (
        f"Storage: {disk / spans:,.0f} bytes on disk per stored span (spans + traces, every partition with TOAST and "
        f"indexes; {spans:,} spans, {disk / 2**20:,.1f} MiB; span TOAST compression "
        f"{ {'l': 'lz4', 'p': 'pglz'}.get(compression or '', 'default (pglz)') }) beside "
        f"{raw / sent:,.0f} bytes of OTLP/protobuf per span as sent."
    )


def _scenario(env: BenchEnv, server: Server, batches: list[Batch], clients: int) -> ScenarioResult:
    """Send every batch once with `clients` concurrent clients; measure; check everything is stored."""
    _truncate(env)
    deadline = float(env_int("BENCH_DEADLINE_S", 60))
    cpu_before = proc_cpu_seconds(server.worker_pid)
    pg_before = {pid: proc_cpu_seconds(pid) for pid in postgres_backends(env.db.name)}
    with RssSampler(server.worker_pid) as rss:
        load = run_load(server.base_url, env.api_key, [b.body for b in batches], clients, deadline)
    cpu = proc_cpu_seconds(server.worker_pid) - cpu_before
    pg_cpu = sum(proc_cpu_seconds(pid) - pg_before.get(pid, 0.0) for pid in postgres_backends(env.db.name))

    failures = load.failed
    for sample in failures[:5]:
        print(f"  non-2xx: batch {sample.index} status {sample.status}: {sample.body[:300]!r}")
    ok_indices = {s.index for s in load.ok}
    expected_spans = sum(batches[i].spans for i in ok_indices)
    expected_traces = sum(batches[i].traces for i in ok_indices)

    # Time until queryable: from the last 2xx until the rows are all there (spans commit before the 2xx).
    stored = (0, 0, 0)
    queryable_at = None
    poll_until = time.perf_counter() + 30
    while time.perf_counter() < poll_until:
        stored = _stored(env)
        if stored[0] >= expected_spans:
            queryable_at = time.perf_counter()
            break
        time.sleep(0.01)
    queryable_ms = (queryable_at - load.last_ok) * 1000 if queryable_at and load.ok else float("nan")
    status, page = api_get_json(f"{server.base_url}/api/v1/traces?limit=1", env.api_key)

    wall = load.last_ok - load.first_send if load.ok else float("nan")
    result = ScenarioResult(
        server=server.label,
        clients=clients,
        batches=len(load.ok),
        spans=expected_spans,
        wall_s=wall,
        latencies_ms=[(s.end - s.start) * 1000 for s in load.ok],
        queryable_ms=max(queryable_ms, 0.0),
        worker_rss_peak_mb=rss.max_kb / 1024,
        worker_hwm_mb=proc_status_kb(server.worker_pid, "VmHWM") / 1024,
        worker_cpu_s=cpu,
        pg_cpu_s=pg_cpu,
        failures=len(failures) + (len(batches) - len(load.samples)),
        extra={"stored": stored, "expected": (expected_spans, expected_traces), "api_status": status, "page": page},
    )
    print(
        f"  {server.label:<11} clients={clients} {result.spans:>6} spans in {wall:6.2f}s → {result.spans_per_s:7.0f} spans/s, "
        f"p50/p95/p99 {percentile(result.latencies_ms, 50):.0f}/{percentile(result.latencies_ms, 95):.0f}/"
        f"{percentile(result.latencies_ms, 99):.0f} ms, queryable +{result.queryable_ms:.0f} ms, "
        f"worker HWM {result.worker_hwm_mb:.0f} MB, worker CPU {cpu:.1f}s, PG CPU {pg_cpu:.1f}s",
        flush=True,
    )
    return result


def _check(result: ScenarioResult, batches_sent: int) -> list[str]:
    """Correctness problems of one run (empty when all is well)."""
    problems: list[str] = []
    spans, traces, span_count = result.extra["stored"]  # type: ignore[misc]
    exp_spans, exp_traces = result.extra["expected"]  # type: ignore[misc]
    where = f"{result.server} clients={result.clients}"
    if result.failures:
        problems.append(f"{where}: {result.failures} request(s) without a 2xx answer")
    if result.batches != batches_sent:
        problems.append(f"{where}: only {result.batches}/{batches_sent} batches accepted within the deadline")
    if (spans, traces, span_count) != (exp_spans, exp_traces, exp_spans):
        problems.append(
            f"{where}: stored spans/traces/sum(span_count) = {spans}/{traces}/{span_count}, "
            f"expected {exp_spans}/{exp_traces}/{exp_spans}"
        )
    page = result.extra["page"]
    if result.extra["api_status"] != 200 or not (isinstance(page, dict) and page.get("results", page.get("data"))):
        problems.append(f"{where}: GET /api/v1/traces?limit=1 gave {result.extra['api_status']} {str(page)[:200]}")
    return problems


def _profile(env: BenchEnv, batches: int) -> str:
    """Run benchmarks/profile_ingest.py in its own process against the bench database; return its markdown."""
    out = Path(tempfile.mkstemp(prefix="sightline-profile-", suffix=".md")[1])
    cmd = [PYTHON, str(ROOT / "benchmarks" / "profile_ingest.py"), "--batches", str(batches), "--out", str(out)]
    proc_env = {**env.server_env, "BENCH_API_KEY": env.api_key}
    proc = subprocess.run(cmd, cwd=ROOT, env=proc_env, capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        return f"(profile failed: {proc.returncode})\n```\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}\n```\n"
    text = out.read_text()
    out.unlink(missing_ok=True)
    return text


def test_ingest_benchmark(bench_env: BenchEnv, batches: list[Batch], warmup_batches: list[Batch]) -> None:
    report_path = Path(os.environ.get("BENCH_REPORT", "/tmp/bench_report.md"))
    machine = machine_summary()
    clients = env_int("BENCH_CLIENTS", 6)
    single = batches[: env_int("BENCH_SINGLE_BATCHES", 100)]
    sizes = [len(b.body) for b in batches]
    msg_sizes = llm_span_message_bytes(batches[0])
    print(
        f"\n{machine}\nbench db {bench_env.db.name} ready in {bench_env.setup_s:.1f}s; "
        f"{len(batches)} batches × {batches[0].spans} spans, body {min(sizes) / 1024:.0f}-{max(sizes) / 1024:.0f} KiB, "
        f"LLM messages {min(msg_sizes)}-{max(msg_sizes)} B",
        flush=True,
    )
    results: list[ScenarioResult] = []
    problems: list[str] = []
    commands: list[str] = []
    log_dir = Path(tempfile.mkdtemp(prefix="sightline-bench-"))
    storage_line = ""
    for kind, threads in _servers():
        server = Server(kind, threads, bench_env.server_env, log_dir / f"gunicorn-{kind}-{threads}.log")
        try:
            server.start()
            commands.append(shlex.join(server.command))
            run_load(server.base_url, bench_env.api_key, [b.body for b in warmup_batches], 2, 60)
            for n_clients, chunk in ((1, single), (clients, batches)):
                result = _scenario(bench_env, server, chunk, n_clients)
                results.append(result)
                problems += _check(result, len(chunk))
                if n_clients > 1 and not storage_line:
                    storage_line = _disk_per_span(bench_env, chunk)
        except Exception:
            print(f"gunicorn log ({server.log_path}):\n{tail(server.log_path)}", file=sys.stderr)
            raise
        finally:
            server.stop()

    profile_md = ""
    if os.environ.get("BENCH_PROFILE", "1") not in {"0", "false", "no"}:
        _truncate(bench_env)
        profile_md = _profile(bench_env, env_int("BENCH_PROFILE_BATCHES", 30))

    table = markdown_table(results)
    concurrent = [r for r in results if r.clients > 1]
    best = max(concurrent, key=lambda r: r.spans_per_s) if concurrent else None
    verdict = ""
    if best is not None:
        p99 = percentile(best.latencies_ms, 99)
        peak = max(r.worker_hwm_mb for r in results)
        verdict = (
            f"Best concurrent run ({best.server}): {best.spans_per_s:,.0f} spans/s "
            f"(target ≥ {TARGET_SPANS_PER_S:,}: {'met' if best.spans_per_s >= TARGET_SPANS_PER_S else 'NOT met'}), "
            f"p99 {p99:.0f} ms (target < {TARGET_P99_MS}: {'met' if p99 < TARGET_P99_MS else 'NOT met'}), "
            f"worker peak RSS {peak:.0f} MB (target < {TARGET_RSS_MB}: {'met' if peak < TARGET_RSS_MB else 'NOT met'})."
        )
    report = f"""# Sightline ingest benchmark

- Machine: {machine}
- Command: `make bench` (= `.venv/bin/python -m pytest benchmarks -q -s`), run at {time.strftime("%Y-%m-%d %H:%M:%S %Z")}
- Servers: {"; ".join(f"`{c}`" for c in commands)} (DEBUG=0, `WEB_MAX_REQUESTS=0`, access log on, database `{bench_env.db.name}`)
- Payload: {len(batches)} OTLP/protobuf bodies of {batches[0].traces} traces × 3 spans = {batches[0].spans} spans
  (root + retrieval with 3-5 documents + LLM with {min(msg_sizes)}-{max(msg_sizes)} B of messages), real SDK spans
  encoded by `encode_spans`, {min(sizes) / 1024:.0f}-{max(sizes) / 1024:.0f} KiB each; built before timing.
- Single-client runs send the first {len(single)} bodies; concurrent runs send all {len(batches)} from {clients}
  client processes (keep-alive `http.client`), which share the 2 cores with the server and PostgreSQL.
- Each run starts from empty trace tables; spans/s = spans acknowledged ÷ (last 2xx − first send).
  "queryable after" = from the last 2xx until `count(*)` of spans equals what was sent.
  Worker peak RSS = VmHWM of the gunicorn worker (not the master). CPU = utime+stime of the worker and of
  the PostgreSQL backends serving the bench database, per request.

{table}

{verdict}

{storage_line}

{profile_md}
"""
    report_path.write_text(report)
    print(
        "\n"
        + table
        + "\n\n"
        + verdict
        + "\n\n"
        + storage_line
        + "\n\n"
        + profile_md
        + f"\n(report written to {report_path})"
    )
    assert not problems, "\n".join(problems)
