"""Gunicorn settings for Sightline's web process; every knob comes from the environment."""

from __future__ import annotations

import os

# The one source of the web process's defaults: README's table and .env.example defer to these
# (tests/platform/test_compose.py checks the README against them). An empty variable means the default.
WEB_DEFAULTS = {
    "WEB_CONCURRENCY": "1",
    "WEB_THREADS": "4",
    "WEB_WORKER_CLASS": "gthread",
    "WEB_TIMEOUT": "60",
    "WEB_GRACEFUL_TIMEOUT": "15",
    "WEB_MAX_REQUESTS": "2000",
    "WEB_LOG_LEVEL": "info",
}


def web_setting(name: str) -> str:
    """Return the environment's value of a WEB_* knob, or its default when unset or empty."""
    return os.environ.get(name) or WEB_DEFAULTS[name]


wsgi_app = "config.wsgi:application"
# HOST/PORT: `make run` defaults to 127.0.0.1:8000; the container image sets HOST=0.0.0.0.
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# One process with 4 threads (issue 14): on the 2-core machine `make run` targets, the web process is ~22 % of the
# write path's CPU (PostgreSQL and the evaluation worker take the rest), and a second worker process added ~110 MB
# of RSS to the tree without more spans/s (benchmarks/test_dual_bench.py, same machine load: 431 spans/s and
# 576 MB with 1×4, 351 spans/s and 686 MB with 2×2). The threads overlap one request's Python with another's
# database wait, and a slow client or htmx poll does not pin the process; ingest's Python is CPU-bound, so more
# threads only lengthen the tail (benchmarks/README.md). More cores: raise WEB_CONCURRENCY or add web replicas.
# WEB_WORKER_CLASS=sync / WEB_THREADS override.
workers = int(web_setting("WEB_CONCURRENCY"))
worker_class = web_setting("WEB_WORKER_CLASS")
threads = int(web_setting("WEB_THREADS"))
timeout = int(web_setting("WEB_TIMEOUT"))
graceful_timeout = int(web_setting("WEB_GRACEFUL_TIMEOUT"))
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = int(web_setting("WEB_MAX_REQUESTS"))
max_requests_jitter = max_requests // 10
accesslog = "-"
errorlog = "-"
loglevel = web_setting("WEB_LOG_LEVEL")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
# Trust X-Forwarded-* only from the proxy in front (comma-separated IPs, "*" for any).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Heartbeat files on tmpfs: a container's overlay filesystem can stall them.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
