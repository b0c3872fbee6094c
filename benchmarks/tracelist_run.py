"""The trace-list benchmark's work, in its own process against the bench database (DATABASE_URL).

    tracelist_run.py prepare N      reuse project `tracelist-bench` if it holds N traces, else generate them
    tracelist_run.py measure REPEAT server time of the pages and API calls; JSON on the last stdout line
    tracelist_run.py load SECONDS [RATE]  ingest traces (with their evaluation, in-process) until SECONDS pass, at
                                    RATE traces/s (0: as fast as it can)

Server time is in-process: Django's handler through the test Client, no network, one request at a time.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.projects.models import Project  # noqa: E402
from apps.projects.services import api_key_create, project_create  # noqa: E402
from apps.scores.sessions import session_summaries_rebuild  # noqa: E402
from apps.traces.normalize import NormalizedSpan  # noqa: E402
from apps.traces.services import ingest_batch_process, spans_ingest  # noqa: E402
from benchmarks.metrics_data import metrics_data_generate  # noqa: E402

SLUG = "tracelist-bench"
OWNER = "tracelist-owner"


def prepare(n: int) -> None:
    """Generate the project's n traces unless a previous run left exactly them (BENCH_KEEP_DB)."""
    project = Project.objects.filter(slug=SLUG).first()
    if project is not None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM traces_trace WHERE project_id = %s", [project.pk])
            have = cursor.fetchone()[0]
        if have >= n:
            print(json.dumps({"reused": True, "traces": have, "generate_s": 0}))
            return
        raise SystemExit(
            f"project {SLUG} holds {have} traces, not {n}: drop the bench database or change BENCH_DB_NAME"
        )
    owner = get_user_model().objects.create_user(username=OWNER, password=secrets.token_urlsafe())
    project = project_create(name="Trace list bench", slug=SLUG, owner=owner)
    end = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    started = time.perf_counter()
    metrics_data_generate(project_id=project.pk, n=n, end=end - timedelta(minutes=1), text=True)
    # What ingest maintains for live traffic: the filter choices (the generator writes rows straight into the table).
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO traces_tracedimensionvalue (project_id, dimension, value) "
            "SELECT DISTINCT project_id, d.dimension, d.value FROM traces_trace, LATERAL (VALUES ('route', route), "
            "('model', model), ('prompt_version', prompt_version), ('environment', environment)) AS d(dimension, value) "
            "WHERE project_id = %s AND d.value <> '' ON CONFLICT DO NOTHING",
            [project.pk],
        )
        cursor.execute("VACUUM ANALYZE traces_trace")
    # What the drain keeps for live traffic: the session summaries (one group-by for rows written in bulk).
    session_summaries_rebuild(project_id=project.pk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scores_sessionsummary")
    print(json.dumps({"reused": False, "traces": n, "generate_s": time.perf_counter() - started}))


def _time(client: Client, url: str, repeat: int, **headers: str) -> dict:
    """Cold call, then `repeat` warm calls: server time (ms) and bytes of the body."""
    timings, cpu, size = [], [], 0
    for _ in range(repeat + 1):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(url, **headers)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        size = len(response.content)
    warm = timings[1:]
    return {
        "url": url,
        "cold_ms": timings[0],
        "median_ms": statistics.median(warm),
        "p90_ms": sorted(warm)[int(0.9 * (len(warm) - 1))],
        "max_ms": max(warm),
        "cpu_ms": statistics.median(cpu[1:]),  # this process's CPU (Python), not PostgreSQL's: load-independent
        "bytes": size,
    }


def measure(repeat: int) -> None:
    """Time the trace list page, the list API (with and without full text), search and the sessions list."""
    setup_test_environment()  # the test Client's host (testserver) is allowed
    project = Project.objects.get(slug=SLUG)
    client = Client()
    client.force_login(get_user_model().objects.get(username=OWNER))
    key = api_key_create(project=project, name="bench read", scope="read").plaintext
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    p = f"/p/{SLUG}"
    out: dict[str, dict] = {}
    out["list page"] = _time(client, f"{p}/traces/", repeat)
    out["list page, model filter"] = _time(client, f"{p}/traces/?model=model-1", repeat)
    out["list page, q=password"] = _time(client, f"{p}/traces/?q=password", repeat)
    out["list page, next page (htmx)"] = _time(client, f"{p}/traces/?cursor=" + _cursor(client, auth), repeat)
    out["filter choices alone"] = _time_call(lambda: _facets(project), repeat)
    out["API limit=50"] = _time(client, "/api/v1/traces?limit=50", repeat, **auth)
    out["API limit=50, include=content"] = _time(client, "/api/v1/traces?limit=50&include=content", repeat, **auth)
    out["API limit=50, 2nd page"] = _time(
        client, "/api/v1/traces?limit=50&cursor=" + _cursor(client, auth), repeat, **auth
    )
    out["API model+route filter"] = _time(client, "/api/v1/traces?limit=50&model=model-2&route=route-3", repeat, **auth)
    out["API since 24 h"] = _time(
        client,
        "/api/v1/traces?limit=50&since=" + (timezone.now() - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        repeat,
        **auth,
    )
    for term in ("password", "invoice", "kangaroo", "zeppelin", "ticket 123456"):
        out[f"API q={term}"] = _time(client, f"/api/v1/traces?limit=50&q={term.replace(' ', '+')}", repeat, **auth)
    out["API q=kangaroo, 7 d"] = _time(
        client,
        "/api/v1/traces?limit=50&q=kangaroo&since=" + (timezone.now() - timedelta(days=7)).strftime("%Y-%m-%d"),
        repeat,
        **auth,
    )
    out["sessions 24 h"] = _time(client, f"{p}/sessions/?window=24h", repeat)
    out["sessions 7 d"] = _time(client, f"{p}/sessions/?window=7d", repeat)
    out["sessions 30 d"] = _time(client, f"{p}/sessions/?window=30d", repeat)
    print(json.dumps(out))


def measure_api(repeat: int) -> None:
    """Time the list API alone (run while other processes ingest and evaluate)."""
    setup_test_environment()
    project = Project.objects.get(slug=SLUG)
    client = Client()
    key = api_key_create(project=project, name="bench read", scope="read").plaintext
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    client.force_login(get_user_model().objects.get(username=OWNER))
    out = {
        "API limit=50": _time(client, "/api/v1/traces?limit=50", repeat, **auth),
        "API q=kangaroo": _time(client, "/api/v1/traces?limit=50&q=kangaroo", repeat, **auth),
        "list page": _time(client, f"/p/{SLUG}/traces/", repeat),
    }
    print(json.dumps(out))


def _cursor(client: Client, auth: dict) -> str:
    return client.get("/api/v1/traces?limit=50", **auth).json()["next_cursor"]


def _facets(project: Project) -> None:
    from apps.traces.selectors import trace_facets

    trace_facets(project=project)


def _time_call(call, repeat: int) -> dict:  # noqa: ANN001 - a callable
    timings = []
    for _ in range(repeat + 1):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    warm = timings[1:]
    return {
        "url": "",
        "cold_ms": timings[0],
        "median_ms": statistics.median(warm),
        "p90_ms": sorted(warm)[int(0.9 * (len(warm) - 1))],
        "max_ms": max(warm),
        "cpu_ms": 0.0,
        "bytes": 0,
    }


def load(seconds: float, rate: float = 0.0) -> None:
    """Ingest 20-trace batches (3 spans each, with text) and evaluate each batch in-process, until time is up.

    With `rate` (traces/s, this process's share) the batches start on a fixed schedule: the load is the same
    whatever the code under test does; behind schedule a batch starts at once (the achieved rate is reported).
    """
    project = Project.objects.get(slug=SLUG)
    started = time.monotonic()
    stop_at = started + seconds
    traces = batches = 0
    while time.monotonic() < stop_at:
        if rate > 0:
            due = started + traces / rate
            if due > time.monotonic():
                time.sleep(min(due, stop_at) - time.monotonic())
                if time.monotonic() >= stop_at:
                    break
        now = timezone.now()
        spans = []
        for i in range(20):
            tid = secrets.token_hex(16)
            root = secrets.token_hex(8)
            common = {
                "trace_id": tid,
                "route": f"route-{i % 8}",
                "environment": "production",
                "session_id": f"live-{i}",
            }
            spans.append(
                NormalizedSpan(
                    span_id=root,
                    is_root=True,
                    kind="chain",
                    started_at=now,
                    ended_at=now + timedelta(milliseconds=900),
                    latency_ms=900.0,
                    input_text="How do I reset my password? " * 20,
                    output_text="Open Settings, then Security. " * 40,
                    **common,
                )
            )
            spans.append(
                NormalizedSpan(
                    span_id=secrets.token_hex(8),
                    parent_span_id=root,
                    kind="retrieval",
                    started_at=now,
                    ended_at=now + timedelta(milliseconds=100),
                    latency_ms=100.0,
                    **common,
                )
            )
            spans.append(
                NormalizedSpan(
                    span_id=secrets.token_hex(8),
                    parent_span_id=root,
                    kind="llm",
                    model=f"model-{i % 3}",
                    started_at=now + timedelta(milliseconds=100),
                    ended_at=now + timedelta(milliseconds=900),
                    latency_ms=800.0,
                    input_tokens=400,
                    output_tokens=100,
                    **common,
                )
            )
        result = spans_ingest(project=project, spans=spans)
        if result.batch_id:
            ingest_batch_process(batch_id=result.batch_id)
        traces += 20
        batches += 1
    elapsed = time.monotonic() - started
    print(json.dumps({"traces": traces, "batches": batches, "seconds": elapsed, "rate": traces / elapsed}))


if __name__ == "__main__":
    command, arg = sys.argv[1], sys.argv[2]
    commands = {
        "prepare": lambda: prepare(int(arg)),
        "measure": lambda: measure(int(arg)),
        "measure-api": lambda: measure_api(int(arg)),
        "load": lambda: load(float(arg), float(sys.argv[3]) if len(sys.argv) > 3 else 0.0),
    }
    commands[command]()
