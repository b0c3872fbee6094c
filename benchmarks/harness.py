"""Machinery of the ingest benchmark: a throwaway database, one real gunicorn worker, load clients, stats.

Nothing here imports Django: the server runs in its own process against `sightline_bench`, and the
load clients are forked processes speaking plain HTTP/1.1 with keep-alive (`http.client`).
"""

from __future__ import annotations

import http.client
import json
import math
import multiprocessing as mp
import os
import platform as _platform
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PYTHON = sys.executable
GUNICORN = VENV_BIN / "gunicorn"
GUNICORN_CONF = ROOT / "platform" / "gunicorn.conf.py"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------
# database


@dataclass
class BenchDatabase:
    """A database of its own on the dev server (dropped and recreated per run)."""

    admin_url: str  # the server's maintenance database (postgres)
    url: str  # the bench database
    name: str

    @classmethod
    def beside(cls, dev_url_parts: Mapping[str, object], name: str) -> BenchDatabase:
        """Build URLs for `name` on the same server/user as Django's DATABASES['default']."""
        user = quote(str(dev_url_parts.get("USER") or ""), safe="")
        password = quote(str(dev_url_parts.get("PASSWORD") or ""), safe="")
        host = str(dev_url_parts.get("HOST") or "127.0.0.1")
        port = str(dev_url_parts.get("PORT") or "5432")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        netloc = f"{auth}{host}:{port}" if not host.startswith("/") else auth.rstrip("@") + "@"
        query = f"?host={quote(host)}" if host.startswith("/") else ""
        base = f"postgres://{netloc}"
        return cls(admin_url=f"{base}/postgres{query}", url=f"{base}/{name}{query}", name=name)

    def _admin(self):
        import psycopg

        return psycopg.connect(self.admin_url, autocommit=True)

    def recreate(self) -> None:
        """DROP (forcing out leftover sessions) and CREATE the bench database."""
        from psycopg import sql

        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))

    def create_if_missing(self) -> None:
        """CREATE the database unless it exists (a kept bench database is reused)."""
        from psycopg import sql

        with self._admin() as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.name]).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))

    def drop(self) -> None:
        from psycopg import sql

        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))

    def connect(self):
        import psycopg

        return psycopg.connect(self.url, autocommit=True)


def manage(args: Sequence[str], env: Mapping[str, str]) -> str:
    """Run `manage.py ARGS` with this env; return stdout, raise with stderr on failure."""
    proc = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args], cwd=ROOT, env=dict(env), capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def redis_url_with_db(url: str, db: int) -> str:
    """The same Redis server, another logical database (so bench jobs never reach a dev worker)."""
    parsed = urlparse(url)
    if parsed.scheme in {"redis+socket", "unix"}:
        query = "&".join(p for p in parsed.query.split("&") if p and not p.startswith("db=")) + f"&db={db}"
        return urlunparse(parsed._replace(query=query.lstrip("&")))
    return urlunparse(parsed._replace(path=f"/{db}"))


def redis_flush(url: str) -> None:
    """Empty the bench's own Redis database (queued post-ingest jobs nobody will run)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


# --------------------------------------------------------------------------------------------
# processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            out.extend(int(p) for p in text.split())
    except OSError:
        pass
    return out


def proc_status_kb(pid: int, key: str) -> int:
    """A `kB` line of /proc/PID/status (VmRSS, VmHWM), or 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (0 when gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def postgres_backends(dbname: str) -> list[int]:
    """PIDs of PostgreSQL backends serving `dbname` (their title reads `postgres: user db host state`)."""
    pids: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmd.startswith("postgres:") and f" {dbname} " in cmd:
            pids.append(int(entry))
    return pids


@dataclass
class Server:
    """One gunicorn master with exactly one worker process (sync or gthread)."""

    worker_class: str
    threads: int
    env: dict[str, str]
    log_path: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    worker_pid: int = 0

    @property
    def label(self) -> str:
        return "sync" if self.worker_class == "sync" else f"gthread×{self.threads}"

    @property
    def command(self) -> list[str]:
        return [
            str(GUNICORN), "-c", str(GUNICORN_CONF), "-w", "1", "--worker-class", self.worker_class,
            "--threads", str(self.threads), "-b", f"127.0.0.1:{self.port}", "config.wsgi:application",
        ]  # fmt: skip

    def start(self, timeout: float = 60.0) -> None:
        self.port = free_port()
        env = {
            **self.env,
            "DEBUG": "0",
            "WEB_CONCURRENCY": "1",
            "WEB_THREADS": str(self.threads),
            "WEB_MAX_REQUESTS": "0",  # no recycling mid-run: the peak RSS is one process's
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
        }
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; log:\n{tail(self.log_path)}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f}s; log:\n{tail(self.log_path)}")
        workers = _children(self.proc.pid)
        if len(workers) != 1:
            raise RuntimeError(f"expected one gunicorn worker under master {self.proc.pid}, found {workers}")
        self.worker_pid = workers[0]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """TERM the master (graceful), then KILL the whole group if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=5)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class RssSampler:
    """Sample a process's VmRSS every `interval` seconds in a thread; remember the maximum."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.max_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.max_kb = max(self.max_kb, proc_status_kb(self.pid, "VmRSS"))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.max_kb = max(self.max_kb, proc_status_kb(self.pid, "VmRSS"))


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (gunicorn master and workers, celery main and pool children)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(_children(current))
    return out


class TreeRssSampler(RssSampler):
    """Sample the summed VmRSS of several process trees (the whole `make run` set) and keep the maximum."""

    def __init__(self, roots: Sequence[int], interval: float = 0.1) -> None:
        super().__init__(roots[0] if roots else 0, interval)
        self.roots = list(roots)

    def _sample(self) -> int:
        return sum(proc_status_kb(p, "VmRSS") for root in self.roots for p in process_tree(root))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.max_kb = max(self.max_kb, self._sample())
            self._stop.wait(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.max_kb = max(self.max_kb, self._sample())


# --------------------------------------------------------------------------------------------
# load clients

# Set in the parent before forking, so children share the bodies copy-on-write instead of pickling them.
_BODIES: list[bytes] = []
_PATHS: list[str] = []  # the OTLP path of each body (/v1/traces unless given)
_RATE: list[float] = [0.0]  # batches/s for paced runs (0 = as fast as the server answers)


@dataclass
class Sample:
    index: int
    start: float
    end: float
    status: int
    body: bytes = b""


def _client(
    host: str, port: int, api_key: str, counter, total: int, ready, go, out, deadline_s: float
) -> None:  # pragma: no cover - runs in a child process
    """Pull batch indices off the shared counter and POST them on one keep-alive connection."""
    headers = {
        "Content-Type": "application/x-protobuf",
        "Authorization": f"Bearer {api_key}",
        "User-Agent": "OTel-OTLP-Exporter-Python/1.38.0 (sightline-bench)",
    }
    conn = http.client.HTTPConnection(host, port, timeout=60)
    samples: list[tuple[int, float, float, int, bytes]] = []
    ready.wait()
    go.wait()
    started = time.perf_counter()
    stop_at = started + deadline_s
    rate = _RATE[0]
    while time.perf_counter() < stop_at:
        with counter.get_lock():
            index = counter.value
            if index >= total:
                break
            counter.value = index + 1
        if rate:  # paced: batch i is due i/rate seconds after the start (open loop, as many apps send)
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        body = _BODIES[index]
        t0 = time.perf_counter()
        for attempt in (1, 2):
            reused = conn.sock is not None
            try:
                conn.request("POST", _PATHS[index], body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
                if resp.will_close:
                    conn.close()  # sync workers close after each answer: reconnect on the next request
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                # A keep-alive connection the server closed while idle (gunicorn's keepalive, 5 s: paced runs
                # wait longer between requests): nothing was processed, so send again on a new connection,
                # as HTTP clients and OTLP exporters do. Only once, and only on a reused connection.
                conn.close()
                status, data = 0, repr(exc).encode()
                if not (reused and attempt == 1):
                    break
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                status, data = 0, repr(exc).encode()
                break
        t1 = time.perf_counter()
        samples.append((index, t0, t1, status, b"" if 200 <= status < 300 else data[:500]))
    conn.close()
    out.send(samples)
    out.close()


@dataclass
class LoadResult:
    samples: list[Sample]
    clients: int
    batches_planned: int

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if 200 <= s.status < 300]

    @property
    def failed(self) -> list[Sample]:
        return [s for s in self.samples if not 200 <= s.status < 300]

    @property
    def first_send(self) -> float:
        return min(s.start for s in self.samples)

    @property
    def last_ok(self) -> float:
        return max(s.end for s in self.ok)


def run_load(
    base_url: str,
    api_key: str,
    bodies: Sequence[bytes],
    clients: int,
    deadline_s: float,
    paths: Sequence[str] | None = None,
    rate: float = 0.0,
) -> LoadResult:
    """POST every body once (to /v1/traces, or to paths[i]), spread over `clients` forked processes;
    with `rate`, batch i is sent no earlier than i/rate seconds after the start."""
    global _BODIES, _PATHS
    _RATE[0] = rate
    _BODIES = list(bodies)
    _PATHS = list(paths) if paths is not None else ["/v1/traces"] * len(_BODIES)
    parsed = urlparse(base_url)
    ctx = mp.get_context("fork")
    counter = ctx.Value("l", 0)
    ready = ctx.Barrier(clients + 1)
    go = ctx.Event()
    pipes = []
    procs = []
    for _ in range(clients):
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_client,
            args=(parsed.hostname, parsed.port, api_key, counter, len(bodies), ready, go, send, deadline_s),
            daemon=True,
        )
        proc.start()
        send.close()
        pipes.append(recv)
        procs.append(proc)
    try:
        ready.wait(timeout=60)
        go.set()
        raw: list[tuple[int, float, float, int, bytes]] = []
        for recv in pipes:
            if recv.poll(deadline_s + 120):
                raw.extend(recv.recv())
        for proc in procs:
            proc.join(timeout=10)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        _BODIES, _PATHS = [], []
    return LoadResult([Sample(*r) for r in raw], clients, len(bodies))


# --------------------------------------------------------------------------------------------
# statistics and report


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 300 samples is the 297th smallest)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class ScenarioResult:
    server: str
    clients: int
    batches: int
    spans: int
    wall_s: float
    latencies_ms: list[float]
    queryable_ms: float
    worker_rss_peak_mb: float
    worker_hwm_mb: float
    worker_cpu_s: float
    pg_cpu_s: float
    failures: int
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def spans_per_s(self) -> float:
        return self.spans / self.wall_s if self.wall_s else math.nan

    def row(self) -> list[str]:
        lat = self.latencies_ms
        return [
            self.server,
            str(self.clients),
            f"{self.batches}",
            f"{self.spans:,}",
            f"{self.wall_s:.2f}",
            f"**{self.spans_per_s:,.0f}**",
            f"{len(lat) / self.wall_s:.1f}" if self.wall_s else "-",
            f"{percentile(lat, 50):.0f}",
            f"{percentile(lat, 95):.0f}",
            f"**{percentile(lat, 99):.0f}**",
            f"{max(lat):.0f}" if lat else "-",
            f"{self.queryable_ms:.0f}",
            f"{self.worker_hwm_mb:.0f}",
            f"{self.worker_cpu_s / max(len(lat), 1) * 1000:.0f}",
            f"{self.pg_cpu_s / max(len(lat), 1) * 1000:.0f}",
            str(self.failures),
        ]


HEADER = [
    "server", "clients", "batches", "spans", "wall s", "spans/s", "req/s", "p50 ms", "p95 ms", "p99 ms",
    "max ms", "queryable after ms", "worker peak RSS MB", "worker CPU ms/req", "PG CPU ms/req", "non-2xx",
]  # fmt: skip


def markdown_table(results: Sequence[ScenarioResult]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    lines += ["| " + " | ".join(r.row()) + " |" for r in results]
    return "\n".join(lines)


def machine_summary() -> str:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    load = os.getloadavg()
    return (
        f"nproc={os.cpu_count()} (affinity {len(os.sched_getaffinity(0))}), CPU: {model}, "
        f"RAM: {mem_kb / 1024 / 1024:.1f} GiB, Python {_platform.python_version()}, "
        f"load average before run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


def api_get_json(url: str, api_key: str) -> tuple[int, object]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read() or b"null")
