"""The real web server (gunicorn with the project's config) on the test database, for what Django's test server
cannot show: it de-chunks `Transfer-Encoding: chunked` bodies, which Django's development server does not."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import requests
from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _test_database_url() -> str:
    """The URL of the database pytest-django created (test_<name>), which this process uses too."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "postgres")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def gunicorn_server() -> Iterator[str]:
    """Run gunicorn (platform/gunicorn.conf.py) on 127.0.0.1 against the test database; yield its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "WEB_MAX_REQUESTS": "0",
        "WEB_LOG_LEVEL": "warning",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,  # the test Redis database
    }
    log = tempfile.TemporaryFile()  # a file, not a pipe: a pipe nobody reads would block the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "platform/gunicorn.conf.py"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # readiness wait only; nothing is asserted about time
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"gunicorn exited: {log.read().decode(errors='replace')[-2000:]}")
            try:
                if requests.get(f"{url}/healthz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still importing the app
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer /healthz")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
