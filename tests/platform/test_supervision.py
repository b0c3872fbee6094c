"""The runner's supervision of the real web, worker and beat, against the real PostgreSQL and Redis.

Each test starts tests/platform/procfile_driver.py (the runner's supervise_procfile, as `make run`
runs it after setup) in a session of its own and reads its output. Every wait is for a line or a
condition, bounded by a generous deadline that only turns a hang into a failure.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
from django.conf import settings

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("procfile_driver.py")
DEADLINE = 120.0  # seconds; the machine is shared, and a cold Django start is slow there
WORKER_READY = r"^worker +\| .*celery@\S+ ready\."
BANNER = r"^Sightline is up: "

pytestmark = pytest.mark.worker


class Output:
    """The lines a process prints, read by a thread; wait_for() blocks until a pattern shows up."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        """Start reading proc.stdout."""
        self.proc = proc
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._cursor = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        """Queue every line, then None at EOF."""
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            self._queue.put(raw.decode(errors="replace").rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = DEADLINE) -> re.Match[str]:
        """Return the first match of `pattern` in a line after the previous match; fail on EOF or deadline."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            while self._cursor < len(self.lines):
                line = self.lines[self._cursor]
                self._cursor += 1
                if match := regex.search(line):
                    return match
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no line matching {pattern!r} within {timeout:.0f}s:\n" + "\n".join(self.lines[-40:]))
            if line is None:
                pytest.fail(f"output ended before a line matching {pattern!r}:\n" + "\n".join(self.lines[-40:]))
            self.lines.append(line)

    def matches(self, pattern: str) -> list[re.Match[str]]:
        """Return the matches of `pattern` among the lines read so far."""
        regex = re.compile(pattern)
        return [match for line in self.lines if (match := regex.search(line))]


def _free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def app_env(django_db_setup: None) -> dict[str, str]:
    """Return the environment for web, worker and beat: the test database and Redis, a free port."""
    database = settings.DATABASES["default"]
    url = urlparse(os.environ["DATABASE_URL"])
    return {
        **os.environ,
        "DATABASE_URL": urlunparse(url._replace(path=f"/{database['NAME']}")),
        "REDIS_URL": settings.REDIS_URL,
        "HOST": "127.0.0.1",
        "PORT": str(_free_port()),
        "WEB_CONCURRENCY": "1",
        "SIGHTLINE_DEMO": "0",  # web, worker and beat only: the demo's processes are tested in tests/demo
    }


def _process_table() -> dict[int, tuple[int, int, str]]:
    """Return pid -> (ppid, pgid, state) for every process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[0])
    return table


def _tree(root: int) -> set[int]:
    """Return root's descendants, and every member of their process groups."""
    table = _process_table()
    found = {root}
    grew = True
    while grew:
        more = {pid for pid, (ppid, pgid, _) in table.items() if ppid in found or pgid in found} - found
        found |= more
        grew = bool(more)
    return found - {root}


def _cmdline(pid: int) -> str:
    """Return a process's command line ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pids: set[int]) -> set[int]:
    """Return the pids that still run (a zombie waiting for a reaper counts as gone)."""
    table = _process_table()
    return {pid for pid in pids if pid in table and table[pid][2] != "Z"}


@pytest.fixture
def launched() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Collect the launched drivers; SIGKILL whatever of their trees is left after the test."""
    procs: list[subprocess.Popen[bytes]] = []
    trees: list[set[int]] = []
    yield procs
    for proc in procs:
        trees.append(_tree(proc.pid) | {proc.pid})
    for tree in trees:
        for pid in _alive(tree):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            pass


def _launch(argv: list[str], env: dict[str, str], launched: list[subprocess.Popen[bytes]]) -> Output:
    """Start argv in a session of its own (like a shell starts `make run`) and read its output."""
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    launched.append(proc)
    return Output(proc)


def test_a_sigkilled_worker_is_restarted_and_ready_again(app_env, launched) -> None:
    out = _launch([sys.executable, str(DRIVER)], app_env, launched)
    out.wait_for(WORKER_READY)
    (first,) = [int(m.group(1)) for m in out.matches(r"^runner +\| worker started \(pid (\d+)\)")]
    web_pid = int(out.matches(r"^runner +\| web started \(pid (\d+)\)")[0].group(1))

    os.kill(first, signal.SIGKILL)
    out.wait_for(r"^runner +\| worker was killed by SIGKILL; restarting it in 1s")
    second = int(out.wait_for(r"^runner +\| worker started \(pid (\d+)\)").group(1))
    out.wait_for(WORKER_READY)

    assert second != first
    assert _alive({second}) == {second}
    # Web and beat were left alone: started once, never stopped; ingest kept answering.
    assert len(out.matches(r"^runner +\| (web|beat) started")) == 2
    assert _alive({web_pid}) == {web_pid}
    with urllib.request.urlopen(f"http://127.0.0.1:{app_env['PORT']}/healthz", timeout=10) as response:
        assert response.status == 200

    os.killpg(out.proc.pid, signal.SIGTERM)
    assert out.proc.wait(DEADLINE) == 0


def test_sigterm_to_make_runs_group_right_after_ready_leaves_no_process(app_env, launched, tmp_path) -> None:
    # make forwards the SIGTERM it gets to its child, so the runner sees the signal twice.
    makefile = tmp_path / "Makefile"
    makefile.write_text(f"run:\n\t{sys.executable} {DRIVER}\n")
    out = _launch(["make", "--no-print-directory", "-f", str(makefile), "run"], app_env, launched)
    out.wait_for(BANNER)
    tree = _tree(out.proc.pid)
    commands = " ".join(_cmdline(pid) for pid in tree)
    assert (
        "gunicorn" in commands and "celery -A config worker" in commands and "celery -A apps.core.beat beat" in commands
    )

    os.killpg(out.proc.pid, signal.SIGTERM)
    try:
        out.proc.wait(DEADLINE)
    except subprocess.TimeoutExpired:
        pytest.fail("make run did not exit after SIGTERM:\n" + "\n".join(out.lines[-40:]))
    survivors = _alive(tree | _tree(out.proc.pid))
    assert survivors == set(), [_cmdline(pid) for pid in survivors]
