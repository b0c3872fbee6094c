"""A real PgBouncer in transaction pooling mode on a free 127.0.0.1 port, in front of the test PostgreSQL."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

PGBOUNCER = Path("/usr/sbin/pgbouncer")
# PgBouncer refuses to run as root; the runner's system user for the embedded PostgreSQL, or Debian's.
RUN_AS_USERS = ("pgserver", "postgres", "nobody")


def available() -> bool:
    """Return True when Debian's pgbouncer is installed (the runner installs it before tests)."""
    return PGBOUNCER.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in RUN_AS_USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError(f"pgbouncer refuses root and none of {RUN_AS_USERS} exists")


@contextmanager
def pgbouncer(*, host: str, port: int, user: str = "postgres", pool_size: int = 10) -> Iterator[int]:
    """Run pgbouncer (pool_mode=transaction, trust auth, no prepared-statement support) and yield its port."""
    port_out = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="sightline-pgbouncer-"))
    ini = workdir / "pgbouncer.ini"
    userlist = workdir / "userlist.txt"
    log = workdir / "pgbouncer.log"
    userlist.write_text(f'"{user}" ""\n')
    ini.write_text(
        "[databases]\n"
        f"* = host={host} port={port}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port_out}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {userlist}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {pool_size}\n"
        "max_client_conn = 100\n"
        # LIFO reuse of server sessions (the default), stated: the test relies on it to move a client around.
        "server_round_robin = 0\n"
        f"logfile = {log}\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
    )
    argv = [str(PGBOUNCER), str(ini)]
    user_name = _run_as()
    if user_name:
        entry = pwd.getpwnam(user_name)
        for path in (workdir, ini, userlist):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        argv = [str(PGBOUNCER), "-u", user_name, str(ini)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(
                    host="127.0.0.1", port=port_out, user=user, dbname="postgres", connect_timeout=2, autocommit=True
                ).close()
                break
            except psycopg.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    raise RuntimeError(f"pgbouncer did not start: {output}\n{tail}") from None
                time.sleep(0.1)
        yield port_out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        shutil.rmtree(workdir, ignore_errors=True)
