"""Fixtures of the ingest benchmark: its own database and Redis db, a project + key, pre-built payloads.

Knobs (environment variables, all optional):
    BENCH_DB_NAME          database created on the dev server (default sightline_bench; dropped after)
    BENCH_KEEP_DB=1        keep the bench database after the run (to poke at the rows)
    BENCH_REDIS_DB         Redis logical db for the post-ingest jobs the server enqueues (default 14)
    BENCH_BATCHES          batches in each concurrent run (default 300 = 29,700 spans)
    BENCH_SINGLE_BATCHES   batches in each single-client run (default 100)
    BENCH_TRACES_PER_BATCH traces per batch, 3 spans each (default 33 → 99 spans)
    BENCH_CLIENTS          concurrent client processes (default 6)
    BENCH_SERVERS          gunicorn workers to try, e.g. "gthread:2,sync:1" (default)
    BENCH_DEADLINE_S       per-run time bound for the clients (default 60)
    BENCH_PROFILE=0        skip the in-process profile (benchmarks/profile_ingest.py)
    BENCH_REPORT           where to write the markdown report (default /tmp/bench_report.md)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.conf import settings

from benchmarks.harness import BenchDatabase, manage, redis_flush, redis_url_with_db
from benchmarks.payloads import Batch, make_batches


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, "") or default)


@dataclass
class BenchEnv:
    db: BenchDatabase
    redis_url: str
    project_slug: str
    project_id: int
    api_key: str
    setup_s: float

    @property
    def server_env(self) -> dict[str, str]:
        """The environment for manage.py and gunicorn: real env vars win over .env, so these stick."""
        return {**os.environ, "DATABASE_URL": self.db.url, "REDIS_URL": self.redis_url, "DEBUG": "0"}


@pytest.fixture(scope="session")
def bench_env() -> Iterator[BenchEnv]:
    """Drop/create the bench database, migrate it, create project `bench` with an ingest key."""
    started = time.perf_counter()
    db = BenchDatabase.beside(settings.DATABASES["default"], os.environ.get("BENCH_DB_NAME", "sightline_bench"))
    if db.name == settings.DATABASES["default"]["NAME"]:
        raise pytest.UsageError("BENCH_DB_NAME must differ from the dev database")
    redis_url = redis_url_with_db(settings.REDIS_URL, env_int("BENCH_REDIS_DB", 14))
    db.recreate()
    try:
        env = {**os.environ, "DATABASE_URL": db.url, "REDIS_URL": redis_url, "DEBUG": "0"}
        manage(["migrate", "--noinput", "-v", "0"], env)
        created = json.loads(manage(["create_project", "bench", "--json"], env).strip().splitlines()[-1])
        with db.connect() as conn:
            project_id = conn.execute(
                "SELECT id FROM projects_project WHERE slug = %s", [created["project"]]
            ).fetchone()[0]
        redis_flush(redis_url)
        yield BenchEnv(db, redis_url, created["project"], project_id, created["api_key"], time.perf_counter() - started)
    finally:
        try:
            redis_flush(redis_url)
        finally:
            if os.environ.get("BENCH_KEEP_DB", "") not in {"1", "true", "yes"}:
                db.drop()


@pytest.fixture(scope="session")
def batches() -> list[Batch]:
    """The timed payloads, built before any clock starts."""
    return make_batches(env_int("BENCH_BATCHES", 300), env_int("BENCH_TRACES_PER_BATCH", 33), seed=7)


@pytest.fixture(scope="session")
def warmup_batches() -> list[Batch]:
    """A few untimed batches per server (imports, connections, caches), then the tables are emptied."""
    return make_batches(8, env_int("BENCH_TRACES_PER_BATCH", 33), seed=11)
