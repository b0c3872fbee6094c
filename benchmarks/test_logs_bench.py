"""`make bench`, content-as-logs: the same conversations with their messages on the spans, or sent as log events.

The official openai instrumentation (openai-v2) puts no messages on its spans: it logs one event per message
(gen_ai.system/user.message, gen_ai.choice) to /v1/logs, and the server attaches them to the span (at once
when the span is stored, or when it arrives). This compares that traffic with content-on-spans traffic for
the same requests on one gunicorn worker: conversations (LLM calls) stored per second, content included.
Speed is reported, never asserted; correctness is: every request 2xx, every span stored, every LLM span
carries its messages, no content left waiting. The report goes to /tmp/bench_logs_report.md.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmarks.conftest import BenchEnv, env_int
from benchmarks.harness import Server, machine_summary, percentile, run_load
from benchmarks.payloads import Batch, make_batches
from benchmarks.test_ingest_bench import _stored, _truncate

TARGET_RATIO = 0.8  # content-as-logs within 20% of content-on-spans


def _content_stored(env: BenchEnv) -> tuple[int, int, int]:
    """(LLM spans, LLM spans with input and output messages, content rows still waiting)."""
    with env.db.connect() as conn:
        llm, full = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE input_messages <> '[]'::jsonb AND output_messages <> '[]'::jsonb) "
            "FROM traces_span WHERE project_id = %s AND kind = 'llm'",
            [env.project_id],
        ).fetchone()
        waiting = conn.execute("SELECT count(*) FROM traces_pendingspancontent").fetchone()[0]
    return llm, full, waiting


def _workload(batches: list[Batch], as_logs: bool) -> tuple[list[bytes], list[str]]:
    """Request bodies and paths: spans only, or per batch its content log events and its spans.

    The logs of even batches go before their spans and those of odd batches after, so both the waiting path
    (content before its span) and the attach path (content after) carry half the load; with concurrent
    clients the order interleaves further, as exporters' independent flushes do.
    """
    if not as_logs:
        return [b.body for b in batches], ["/v1/traces"] * len(batches)
    bodies: list[bytes] = []
    paths: list[str] = []
    for i, b in enumerate(batches):
        pair = [(b.logs_body, "/v1/logs"), (b.body, "/v1/traces")]
        for body, path in pair if i % 2 == 0 else reversed(pair):
            bodies.append(body)
            paths.append(path)
    return bodies, paths


def _run(env: BenchEnv, server: Server, batches: list[Batch], as_logs: bool, clients: int) -> dict:
    """One timed run from empty tables; return its figures (asserting correctness)."""
    _truncate(env)
    bodies, paths = _workload(batches, as_logs)
    load = run_load(server.base_url, env.api_key, bodies, clients, float(env_int("BENCH_DEADLINE_S", 60)), paths)
    assert not load.failed, [(s.index, s.status, s.body[:200]) for s in load.failed[:5]]
    assert len(load.ok) == len(bodies), f"only {len(load.ok)}/{len(bodies)} requests answered within the deadline"
    wall = load.last_ok - load.first_send
    spans, traces, span_count = _stored(env)
    sent = sum(b.spans for b in batches)
    assert (spans, traces, span_count) == (sent, sum(b.traces for b in batches), sent)
    llm, full, waiting = _content_stored(env)
    assert (full, waiting) == (llm, 0), f"{llm} LLM spans, {full} with messages, {waiting} content rows waiting"
    latencies = [(s.end - s.start) * 1000 for s in load.ok]
    return {
        "mode": "content-as-logs" if as_logs else "content-on-spans",
        "requests": len(bodies),
        "log_records": sum(b.log_records for b in batches) if as_logs else 0,
        "wall": wall,
        "calls_per_s": llm / wall,
        "spans_per_s": spans / wall,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
    }


def test_content_as_logs_benchmark(bench_env: BenchEnv) -> None:
    count = env_int("BENCH_LOGS_BATCHES", 150)
    per_batch = env_int("BENCH_TRACES_PER_BATCH", 33)
    clients = env_int("BENCH_CLIENTS", 6)
    rounds = env_int("BENCH_LOGS_ROUNDS", 2)
    kind, _, threads = os.environ.get("BENCH_LOGS_SERVER", "gthread:2").partition(":")
    on_spans = make_batches(count, per_batch, seed=7)
    as_logs = make_batches(count, per_batch, seed=7, content_as_logs=True)
    warmup = make_batches(4, per_batch, seed=11, content_as_logs=True)
    machine = machine_summary()
    server = Server(kind, int(threads or 1), bench_env.server_env, Path(tempfile.mkdtemp()) / "gunicorn-logs.log")
    runs: list[dict] = []
    try:
        server.start()
        warm_bodies, warm_paths = _workload(warmup, as_logs=True)
        run_load(server.base_url, bench_env.api_key, warm_bodies, 2, 60, warm_paths)
        for n in range(rounds):  # alternate which mode goes first, so drift on a shared machine cancels out
            for logs_mode in (False, True) if n % 2 == 0 else (True, False):
                run = _run(bench_env, server, on_spans if not logs_mode else as_logs, logs_mode, clients)
                runs.append(run)
                print(
                    f"  {run['mode']:<17} {run['requests']} requests in {run['wall']:.2f}s → "
                    f"{run['calls_per_s']:.0f} LLM calls/s ({run['spans_per_s']:.0f} spans/s), "
                    f"p50/p99 {run['p50']:.0f}/{run['p99']:.0f} ms",
                    flush=True,
                )
    finally:
        server.stop()

    def best(mode: str) -> dict:
        return max((r for r in runs if r["mode"] == mode), key=lambda r: r["calls_per_s"])

    spans_run, logs_run = best("content-on-spans"), best("content-as-logs")
    ratio = logs_run["calls_per_s"] / spans_run["calls_per_s"]
    rows = "\n".join(
        f"| {r['mode']} | {r['requests']} | {r['log_records']:,} | {r['wall']:.2f} | **{r['calls_per_s']:,.0f}** "
        f"| {r['spans_per_s']:,.0f} | {r['p50']:.0f} | {r['p99']:.0f} |"
        for r in runs
    )
    verdict = (
        f"Best of {rounds} each: content-as-logs {logs_run['calls_per_s']:,.0f} LLM calls/s vs content-on-spans "
        f"{spans_run['calls_per_s']:,.0f} = {ratio:.0%} (target ≥ {TARGET_RATIO:.0%}: "
        f"{'met' if ratio >= TARGET_RATIO else 'NOT met'})."
    )
    report = f"""# Sightline content-as-logs benchmark

- Machine: {machine}
- Run at {time.strftime("%Y-%m-%d %H:%M:%S %Z")} against `{server.label}` (one gunicorn worker, DEBUG=0), {clients} clients
- {count} batches of {per_batch} traces × 3 spans; content-on-spans: the LLM messages on the span (one request per batch);
  content-as-logs: the same spans without messages plus one /v1/logs request per batch with the openai-v2 events
  (4 per LLM call), logs before spans for even batches and after for odd ones.

| mode | requests | log records | wall s | LLM calls/s | spans/s | p50 ms | p99 ms |
|---|---|---|---|---|---|---|---|
{rows}

{verdict}
"""
    Path(os.environ.get("BENCH_LOGS_REPORT", "/tmp/bench_logs_report.md")).write_text(report)
    print("\n" + report)
