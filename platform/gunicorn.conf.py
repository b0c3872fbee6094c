"""Gunicorn settings for Sightline's web process; every knob comes from the environment."""

from __future__ import annotations

import os

wsgi_app = "config.wsgi:application"
# HOST/PORT: `make run` defaults to 127.0.0.1:8000; the container image sets HOST=0.0.0.0.
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gthread with 2 threads: one thread's Python overlaps the other's database wait (ingest is CPU-bound in
# Python, so more threads only add GIL contention and a longer tail; see benchmarks/README.md), and a slow
# client or htmx poll does not pin the whole process. WEB_WORKER_CLASS=sync / WEB_THREADS override.
worker_class = os.environ.get("WEB_WORKER_CLASS", "gthread")
threads = int(os.environ.get("WEB_THREADS", "2"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "15"))
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("WEB_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
# Trust X-Forwarded-* only from the proxy in front (comma-separated IPs, "*" for any).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Heartbeat files on tmpfs: a container's overlay filesystem can stall them.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
