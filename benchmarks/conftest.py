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
    BENCH_METRICS_DB_NAME  the metrics/dashboards benches' database (default <BENCH_DB_NAME>_metrics; with
                           BENCH_KEEP_DB=1 it is kept and its 1M-trace data reused by the next run)
    BENCH_METRICS_TRACES   traces of that data (default 1,000,000; 3 scores each)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

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


@dataclass
class MetricsDataset:
    """The metrics/dashboards benchmarks' data: one project with `traces` traces (+3 scores each) over 30 days."""

    project_id: int
    slug: str
    traces: int
    end: datetime  # the data covers [end - 30 days, end)
    generated_s: float | None  # None: reused from an earlier run (BENCH_KEEP_DB=1)
    rebuilt_s: float | None


def metrics_db_name() -> str:
    """BENCH_METRICS_DB_NAME, else `<BENCH_DB_NAME>_metrics` (apart from the ingest bench's, which it recreates)."""
    return os.environ.get("BENCH_METRICS_DB_NAME") or f"{os.environ.get('BENCH_DB_NAME', 'sightline_bench')}_metrics"


@pytest.fixture(scope="session")
def metrics_db() -> Iterator[BenchDatabase]:
    """The metrics data's database: created and migrated if missing, kept with BENCH_KEEP_DB=1 (then reused)."""
    db = BenchDatabase.beside(settings.DATABASES["default"], metrics_db_name())
    if db.name == settings.DATABASES["default"]["NAME"]:
        raise pytest.UsageError("BENCH_METRICS_DB_NAME must differ from the dev database")
    db.create_if_missing()
    manage(["migrate", "--noinput", "-v", "0"], {**os.environ, "DATABASE_URL": db.url, "DEBUG": "0"})
    try:
        yield db
    finally:
        if os.environ.get("BENCH_KEEP_DB", "") not in {"1", "true", "yes"}:
            db.drop()


@pytest.fixture(scope="module")
def metrics_dataset(metrics_db: BenchDatabase, django_db_blocker) -> Iterator[MetricsDataset]:
    """Point Django at the metrics database for one module, with the 1M dataset generated once and then reused.

    The data is committed (no test transaction): a kept database serves the next run without regenerating it
    (on the shared 2-core VM at load ~10: ~15 min for the rows, ~2 min per day of rollups). Interrupted runs
    resume: traces short of n are written again; rollups go on from the last day rebuilt.
    """
    from django.db import connections

    from apps.projects.models import Project
    from apps.scores.models import Rollup
    from apps.scores.rollups import DAY, rollups_rebuild
    from benchmarks.metrics_data import metrics_data_delete, metrics_data_generate

    def _traces(project_id: int) -> int:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT count(*) FROM traces_trace WHERE project_id = %s", [project_id])
            return cursor.fetchone()[0]

    def _rolled_up(project_id: int) -> int:
        rows = Rollup.objects.filter(project_id=project_id, metric="traces", resolution=DAY, dims=0)
        return sum(rows.values_list("count", flat=True))

    def _data_end(project_id: int) -> datetime:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT max(started_at) FROM traces_trace WHERE project_id = %s", [project_id])
            return cursor.fetchone()[0].replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)

    n = env_int("BENCH_METRICS_TRACES", 1_000_000)
    slug = f"bench-metrics-{n}"
    dev_name = settings.DATABASES["default"]["NAME"]
    connections["default"].close()
    settings.DATABASES["default"]["NAME"] = connections["default"].settings_dict["NAME"] = metrics_db.name
    django_db_blocker.unblock()
    try:
        project = Project.objects.filter(slug=slug).first()
        generated_s = rebuilt_s = None
        if project is None or _traces(project.id) != n:
            # None yet, or an interrupted generation: write it all again.
            if project is not None:
                metrics_data_delete(project_id=project.id)
            project = project or Project.objects.create(name=f"Metrics bench {n:,}", slug=slug)
            t0 = time.perf_counter()
            metrics_data_generate(
                project_id=project.id, n=n, end=timezone.now().replace(minute=0, second=0, microsecond=0)
            )
            generated_s = time.perf_counter() - t0
        end = _data_end(project.id)
        if _rolled_up(project.id) != n:
            # Rollups missing or cut short (the rebuild commits a day at a time): go on from the last day done.
            last = Rollup.objects.filter(project=project, resolution=DAY).order_by("-bucket").first()
            since = last.bucket if last is not None else end - timedelta(days=31)
            t0 = time.perf_counter()
            rollups_rebuild(project_id=project.id, since=since, until=end)
            rebuilt_s = time.perf_counter() - t0
            with connections["default"].cursor() as cursor:
                cursor.execute("ANALYZE scores_rollup")
        yield MetricsDataset(project.id, slug, n, end, generated_s, rebuilt_s)
    finally:
        connections["default"].close()
        settings.DATABASES["default"]["NAME"] = connections["default"].settings_dict["NAME"] = dev_name
        django_db_blocker.restore()
