"""`make bench ARGS="-k dual"`: the write path as users run it, beside the COPY ceiling of the same rows.

The load (issue 14): RAG spans of about 4 KB whose content is present in both the OTel GenAI and the
OpenInference attributes (payloads.make_dual_batches), 300 spans per OTLP request, 4 client connections,
against the `make run` process set with its defaults (platform/Procfile: gunicorn with
platform/gunicorn.conf.py, a Celery worker on every queue, beat), evaluation on (the project's default
evaluators score every batch in the worker).

Measured: spans/s stored end to end (spans commit before the 2xx) and until every batch is evaluated,
request p99 at full rate and at half that rate (paced), the peak RSS summed over the whole process tree,
bytes on disk per stored span (spans + traces), and the ceiling: a binary COPY of the same stored span rows
into a table of the same definition with 4 streams; Sightline as a fraction of it. Speed is reported, never
asserted; every span and trace stored and every batch evaluated is.

Knobs: BENCH_DUAL_SPANS (60,000), BENCH_DUAL_SPANS_PER_BATCH (300), BENCH_DUAL_CLIENTS (4),
BENCH_DUAL_COPY_STREAMS (4), BENCH_DUAL_HALF_RATE=0 (skip the paced run), BENCH_DUAL_DEADLINE_S (600),
BENCH_DUAL_REPORT (/tmp/bench_dual_report.md).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from benchmarks.conftest import BenchEnv, env_int
from benchmarks.harness import (
    ROOT,
    VENV_BIN,
    TreeRssSampler,
    free_port,
    machine_summary,
    percentile,
    postgres_backends,
    proc_cpu_seconds,
    process_tree,
    run_load,
    tail,
)
from benchmarks.payloads import Batch, make_dual_batches
from benchmarks.test_ingest_bench import DISK_BYTES_SQL, _truncate

TARGETS = {"spans_per_s": 5_840, "bytes_per_span": 3_900, "tree_mb": 600, "p99_half_ms": 250}


@dataclass
class Stack:
    """The Procfile's processes (web, worker, beat) started as `make run` starts them, each in its own group."""

    env: dict[str, str]
    log_dir: Path
    port: int = 0
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def commands(self) -> dict[str, list[str]]:
        """The Procfile lines, pointed at .venv and with beat's schedule in the run's temp dir."""
        out: dict[str, list[str]] = {}
        for line in (ROOT / "platform" / "Procfile").read_text().splitlines():
            if ":" not in line or line.lstrip().startswith("#"):
                continue
            name, _, command = line.partition(":")
            argv = shlex.split(command)
            if (VENV_BIN / argv[0]).exists():
                argv[0] = str(VENV_BIN / argv[0])
            out[name.strip()] = [
                str(self.log_dir / "beat-schedule") if a.endswith("celerybeat-schedule") else a for a in argv
            ]
        return out

    def start(self, timeout: float = 90.0) -> None:
        self.port = free_port()
        env = {**self.env, "HOST": "127.0.0.1", "PORT": str(self.port), "DEBUG": "0"}
        for name, argv in self.commands().items():
            log = (self.log_dir / f"{name}.log").open("ab")
            self.procs[name] = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail(self.log_dir / f'{name}.log')}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"web did not answer /healthz:\n{tail(self.log_dir / 'web.log')}")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs.values()]

    def stop(self) -> None:
        """TERM each process group we started, then KILL what lingers."""
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)


@dataclass
class RunResult:
    label: str
    spans: int
    wall_s: float
    evaluated_s: float
    latencies_ms: list[float]
    tree_mb: float
    failures: int
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def spans_per_s(self) -> float:
        return self.spans / self.wall_s if self.wall_s else 0.0


def _wait_stored_and_evaluated(env: BenchEnv, spans: int, batches: int, timeout: float) -> tuple[bool, float]:
    """Wait until every ingest batch is evaluated and every span stored; return (all done, when).

    The poll reads the small batch table; the spans are counted (a scan of the whole day's spans, which would
    compete with the run for CPU and count as its PostgreSQL time) only once every batch is done.
    """
    deadline = time.perf_counter() + timeout
    with env.db.connect() as conn:
        while time.perf_counter() < deadline:
            done = conn.execute(
                "SELECT count(*) FILTER (WHERE state = 'done'), count(*) FROM traces_ingestbatch WHERE project_id = %s",
                [env.project_id],
            ).fetchone()
            if done[0] >= batches and done[0] == done[1]:
                at = time.perf_counter()
                stored = conn.execute(
                    "SELECT count(*) FROM traces_span WHERE project_id = %s", [env.project_id]
                ).fetchone()[0]
                if stored >= spans:
                    return True, at
            time.sleep(0.05)
    return False, time.perf_counter()


class CpuSampler:
    """CPU-seconds of the `make run` processes (web, worker, beat) and the bench database's backends.

    Sampled every `interval` s, last value kept per pid, so a backend or pool child that exits mid-run
    still counts (up to its last sample); a pid first seen during the run counts from zero.
    """

    def __init__(self, env: BenchEnv, stack: Stack, interval: float = 0.2) -> None:
        self.env, self.stack, self.interval = env, stack, interval
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _snapshot(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, proc in self.stack.procs.items():
            for pid in process_tree(proc.pid):
                out[f"{name}:{pid}"] = proc_cpu_seconds(pid)
        for pid in postgres_backends(self.env.db.name):
            out[f"pg:{pid}"] = proc_cpu_seconds(pid)
        return out

    def _take(self) -> None:
        for key, value in self._snapshot().items():
            if value:
                self.last[key] = value

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._take()

    def __enter__(self) -> CpuSampler:
        self.first = {k: v for k, v in self._snapshot().items() if v}
        self.last = dict(self.first)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take()

    def by_group(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, value in self.last.items():
            group = key.split(":", 1)[0]
            out[group] = out.get(group, 0.0) + value - self.first.get(key, 0.0)
        return out


def _run(env: BenchEnv, stack: Stack, batches: list[Batch], clients: int, label: str, rate: float = 0.0) -> RunResult:
    """Send every batch once (paced at `rate` batches/s when given) and wait for storage and evaluation."""
    _truncate(env)
    deadline = float(env_int("BENCH_DUAL_DEADLINE_S", 600))
    with TreeRssSampler(stack.pids()) as rss, CpuSampler(env, stack) as cpu:
        load = run_load(stack.base_url, env.api_key, [b.body for b in batches], clients, deadline, rate=rate)
        sent = sum(batches[s.index].spans for s in load.ok)
        ok, evaluated_at = _wait_stored_and_evaluated(env, sent, len(load.ok), 300)
    assert ok, f"{label}: not every span stored and every batch evaluated within 300 s"
    failures = len(load.failed) + len(batches) - len(load.samples)
    return RunResult(
        label=label,
        spans=sent,
        wall_s=load.last_ok - load.first_send,
        evaluated_s=evaluated_at - load.first_send,
        latencies_ms=[(s.end - s.start) * 1000 for s in load.ok],
        tree_mb=rss.max_kb / 1024,
        failures=failures,
        cpu=cpu.by_group(),
    )


def _storage(env: BenchEnv) -> tuple[float, int, int]:
    """(bytes on disk per stored span over spans + traces, spans, traces)."""
    with env.db.connect() as conn:
        disk = conn.execute(DISK_BYTES_SQL).fetchone()[0]
        spans = conn.execute("SELECT count(*) FROM traces_span").fetchone()[0]
        traces = conn.execute("SELECT count(*) FROM traces_trace").fetchone()[0]
        scores = conn.execute("SELECT count(*) FROM scores_score").fetchone()[0]
    assert spans and traces and scores, "nothing stored or evaluated"
    return disk / spans, spans, traces


def _copy_ceiling(env: BenchEnv, streams: int) -> tuple[float, int]:
    """Binary COPY of the stored span rows into a fresh table of the same definition, `streams` at once.

    The rows are read out first (one binary COPY TO per stream, split by id), then the clock runs from the
    first COPY FROM to the last commit. Returns (rows/s, rows).
    """
    with env.db.connect() as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy_ceiling")
        lo, hi = conn.execute("SELECT min(partition_at), max(partition_at) FROM traces_span").fetchone()
        conn.execute(
            "CREATE TABLE bench_copy_ceiling (LIKE traces_span INCLUDING ALL) PARTITION BY RANGE (partition_at)"
        )
        bounds = f"FROM ('{lo.isoformat()}') TO ('{(hi + timedelta(seconds=1)).isoformat()}')"  # DDL: no parameters
        conn.execute(f"CREATE TABLE bench_copy_ceiling_p PARTITION OF bench_copy_ceiling FOR VALUES {bounds}")
        chunks: list[bytes] = []
        for k in range(streams):
            data = bytearray()
            with conn.cursor().copy(
                f"COPY (SELECT * FROM traces_span WHERE mod(id, {streams}) = {k}) TO STDOUT (FORMAT binary)"
            ) as copy:
                for block in copy:
                    data += block
            chunks.append(bytes(data))
        rows = conn.execute("SELECT count(*) FROM traces_span").fetchone()[0]
    errors: list[BaseException] = []
    barrier = threading.Barrier(streams + 1)

    def stream(data: bytes) -> None:
        try:
            with env.db.connect() as c:
                c.autocommit = False
                barrier.wait()
                with c.cursor().copy("COPY bench_copy_ceiling FROM STDIN (FORMAT binary)") as copy:
                    for i in range(0, len(data), 1 << 20):
                        copy.write(data[i : i + (1 << 20)])
                c.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=stream, args=(chunk,)) for chunk in chunks]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    with env.db.connect() as conn:
        copied = conn.execute("SELECT count(*) FROM bench_copy_ceiling").fetchone()[0]
        conn.execute("DROP TABLE bench_copy_ceiling")
    assert not errors and copied == rows, f"COPY ceiling failed: {errors[:1]} ({copied}/{rows} rows)"
    return rows / elapsed, rows


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def test_dual_convention_write_path(bench_env: BenchEnv) -> None:
    spans_wanted = env_int("BENCH_DUAL_SPANS", 60_000)
    per_batch = env_int("BENCH_DUAL_SPANS_PER_BATCH", 300)
    clients = env_int("BENCH_DUAL_CLIENTS", 4)
    streams = env_int("BENCH_DUAL_COPY_STREAMS", 4)
    batches = make_dual_batches(spans_wanted, per_batch, seed=17)
    warmup = make_dual_batches(per_batch * 4, per_batch, seed=23)
    otlp_per_span = sum(len(b.body) for b in batches) / sum(b.spans for b in batches)
    machine = machine_summary()  # with the load average before the run
    log_dir = Path(tempfile.mkdtemp(prefix="sightline-dual-bench-"))
    stack = Stack(dict(bench_env.server_env), log_dir)
    try:
        stack.start()
        _run(bench_env, stack, warmup, clients, "warm-up")
        full = _run(bench_env, stack, batches, clients, "full rate")
        per_span, spans, traces = _storage(bench_env)
        ceiling, ceiling_rows = _copy_ceiling(bench_env, streams)
        half = None
        if os.environ.get("BENCH_DUAL_HALF_RATE", "1") not in {"0", "false", "no"}:
            rate = full.spans_per_s / 2 / (sum(b.spans for b in batches) / len(batches))
            half = _run(bench_env, stack, batches, clients, "half rate (paced)", rate=rate)
    except Exception:
        for name in ("web", "worker", "beat"):
            print(f"--- {name} log:\n{tail(log_dir / f'{name}.log')}")
        raise
    finally:
        stack.stop()
    load_after = os.getloadavg()

    rows = [full] + ([half] if half else [])
    table = [
        "| run | spans | wall s | spans/s stored | spans/s evaluated | p50 ms | p99 ms | tree peak RSS MB | non-2xx |"
    ]
    table.append("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        table.append(
            f"| {r.label} | {r.spans:,} | {r.wall_s:.2f} | **{r.spans_per_s:,.0f}** | {r.spans / r.evaluated_s:,.0f} | "
            f"{percentile(r.latencies_ms, 50):.0f} | **{percentile(r.latencies_ms, 99):.0f}** | {r.tree_mb:.0f} | {r.failures} |"
        )
    for r in rows:
        per_k = {k: v * 1000 / r.spans for k, v in sorted(r.cpu.items())} if r.spans else {}
        table.append(
            f"\nCPU-seconds per 1,000 spans, {r.label}: "
            + ", ".join(f"{k} {v:.2f}" for k, v in per_k.items())
            + f"; total {sum(per_k.values()):.2f}"
        )
    fraction = full.spans_per_s / ceiling if ceiling else 0.0
    tree = max(r.tree_mb for r in rows)
    p99_half = percentile(half.latencies_ms, 99) if half else float("nan")
    verdict = [
        f"- spans/s stored end to end: {full.spans_per_s:,.0f} (target ≥ {TARGETS['spans_per_s']:,}: "
        f"{_met(full.spans_per_s >= TARGETS['spans_per_s'])})",
        f"- bytes on disk per span (spans + traces): {per_span:,.0f} (target ≤ {TARGETS['bytes_per_span']:,}: "
        f"{_met(per_span <= TARGETS['bytes_per_span'])}); {otlp_per_span:,.0f} B of OTLP/protobuf per span as sent",
        f"- whole process tree peak RSS: {tree:.0f} MB (target ≤ {TARGETS['tree_mb']}: {_met(tree <= TARGETS['tree_mb'])})",
        f"- p99 at half rate: {p99_half:.0f} ms (target < {TARGETS['p99_half_ms']}: {_met(p99_half < TARGETS['p99_half_ms'])})",
        f"- COPY ceiling ({streams} binary streams, the same {ceiling_rows:,} span rows, a table of the same "
        f"definition): {ceiling:,.0f} spans/s; Sightline at **{fraction:.0%}** of it",
    ]
    report = "\n".join(
        [
            "# Dual-convention write path (issue 14)",
            "",
            f"- Machine: {machine}; load average after the run: {load_after[0]:.2f} {load_after[1]:.2f} "
            f"{load_after[2]:.2f}",
            f"- Load: {len(batches)} OTLP/protobuf requests of {batches[0].spans} spans (root, retrieval, LLM per "
            f"trace; content in gen_ai.* and in OpenInference keys), {clients} client connections; stored "
            f"{spans:,} spans in {traces:,} traces",
            "- Processes: platform/Procfile as `make run` starts it (web, worker, beat), evaluation on",
            "",
            *table,
            "",
            *verdict,
        ]
    )
    Path(os.environ.get("BENCH_DUAL_REPORT", "/tmp/bench_dual_report.md")).write_text(report + "\n")
    print("\n" + report)
    assert full.failures == 0 and (half is None or half.failures == 0), "requests without a 2xx answer"
