"""Sightline settings: one module, everything from environment variables with safe local defaults.

Real environment variables win over the `.env` file at the repository root, which `make run`
writes with the database and broker it chose, so `manage.py` in another terminal reaches them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def _read_dotenv(path: Path) -> dict[str, str]:
    """Return KEY=VALUE pairs of a .env file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


_DOTENV = _read_dotenv(BASE_DIR / ".env")


def env(name: str, default: str = "") -> str:
    """Return a setting from the environment, then `.env`, then the default."""
    return os.environ.get(name, _DOTENV.get(name, default))


def env_bool(name: str, default: bool = False) -> bool:
    """Return a boolean setting; accepts 1/0, true/false, yes/no, on/off."""
    raw = env(name, "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    """Return an integer setting, failing loudly on garbage."""
    raw = env(name, "").strip()
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_secret(name: str, default: str = "") -> str:
    """Return a secret from NAME, or from the file named by NAME_FILE (Docker secrets)."""
    file_path = env(f"{name}_FILE", "")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE points at an unreadable file: {exc}") from exc
    return env(name, default)


def env_list(name: str, default: str = "") -> list[str]:
    """Return a comma-separated setting as a list of non-empty items."""
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def database_from_url(url: str, *, pooled: bool = False) -> dict[str, object]:
    """Translate a postgres:// URL into Django's DATABASES entry; `pooled` when a transaction-mode pooler is in front.

    Behind PgBouncer in transaction mode consecutive transactions may run on different server sessions, so
    nothing may outlive a transaction: psycopg's prepared statements are turned off (`prepare_threshold`
    None) and so are Django's server-side cursors (a named cursor lives in one session).
    """
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(f"DATABASE_URL must be a postgres:// URL, got scheme {parsed.scheme!r}")
    query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
    host = unquote(parsed.hostname or "") or query.pop("host", "")
    options: dict[str, object] = {**query, "connect_timeout": env_int("DB_CONNECT_TIMEOUT", 5)}
    if pooled:
        options["prepare_threshold"] = None
    elif not env_bool("DB_JIT", False) and "jit=" not in str(query.get("options", "")):
        # PostgreSQL's JIT compiles the evaluator's and the list's queries at 1M traces for far longer than they
        # run (~2.6 s per evaluator query): off per session. A transaction-mode pooler drops startup options
        # (`ignore_startup_parameters = options`), so there it is `ALTER DATABASE ... SET jit = off` (README).
        options["options"] = f"{query.get('options', '')} -c jit=off".strip()
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")) or "sightline",
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": host,
        "PORT": str(parsed.port or ""),
        "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": options,
        "DISABLE_SERVER_SIDE_CURSORS": pooled,
        # Lets parallel test runs on one server use separate databases.
        "TEST": {"NAME": env("TEST_DATABASE_NAME", "") or None},
    }


SECRET_KEY = env_secret("SECRET_KEY", "")
DEBUG = env_bool("DEBUG", False)
# Only a DEBUG (local development) process may run on this well-known key; it signs sessions and
# encrypts stored judge API keys, so everywhere else it must be a real secret.
_DEV_SECRET_KEY = "django-insecure-sightline-local-key-change-me-in-production-0123456789"
if not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY (or SECRET_KEY_FILE) to a long random value, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`; `make run` writes one into .env. "
            "Only DEBUG=true runs without one."
        )
    # The "django-insecure-" prefix makes `check --deploy` flag it (security.W009).
    SECRET_KEY = _DEV_SECRET_KEY
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "axes",
    "csp",
    "apps.core",
    "apps.projects",
    "django.contrib.postgres",
    "apps.traces",
    "apps.scores",
    "apps.feedback",
    "apps.review",
    "apps.judges",
    "apps.evaluators",
    "apps.datasets",
    "apps.slis",
    "apps.dashboards",
    "apps.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the body: a chunked upload is read in full (or refused), never seen as empty.
    "apps.core.middleware.ChunkedBodyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username from one
# IP address, that pair is refused (even with the right password) for AXES_COOLOFF_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # lockouts are still logged as warnings; no line per successful login
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The address a lockout is keyed on: REMOTE_ADDR, or behind a TLS proxy the hop that proxy appended to
# X-Forwarded-For (never the client-supplied leftmost one, which a guesser could rotate).
AXES_CLIENT_IP_CALLABLE = "apps.projects.access.login_client_ip"

# Content-Security-Policy (django-csp 4): no inline scripts anywhere; scripts, styles, images and
# XHR come from this origin only. Plotly figures set inline style attributes on their SVG, which
# needs 'unsafe-inline' in style-src (styles cannot run code; scripts stay strict).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        # blob: plotly.js renders some images from blobs it makes itself (no script runs from an image).
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.projects.context_processors.current_project",
                "apps.demo.context_processors.demo_simulation",
            ],
            # {% partialdef %} everywhere without {% load partials %} (core in Django 6).
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

# True when DATABASE_URL points at a transaction-mode pooler (PgBouncer): ingest stages per transaction and
# no prepared statements or server-side cursors outlive one.
DATABASE_POOLED = env_bool("DATABASE_POOLED", False)
DATABASES = {
    "default": database_from_url(
        env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sightline"), pooled=DATABASE_POOLED
    )
}
# Optional streaming replica for the heavy reads of dashboards and the metrics API (rollup rows, which lag their
# own 15 s drain far more than a replica lags the primary). Writes, ingest and the trace page stay on the primary.
DATABASE_READ_URL = env("DATABASE_READ_URL", "")
if DATABASE_READ_URL:
    DATABASES["replica"] = {
        **database_from_url(DATABASE_READ_URL, pooled=env_bool("DATABASE_READ_POOLED", DATABASE_POOLED)),
        "TEST": {"MIRROR": "default"},
    }
DASHBOARD_DB_ALIAS = "replica" if DATABASE_READ_URL else "default"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "sightline",
    }
}
# Sessions live in PostgreSQL so web processes stay stateless and a Redis flush logs nobody out.
SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / ".data" / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed names once collectstatic wrote its manifest; plain names before that.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST", (STATIC_ROOT / "staticfiles.json").is_file() or "collectstatic" in sys.argv)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Without collectstatic (tests, a fresh checkout) serve straight from the finders.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", True)

# Security: HTTPS behaviour is switched on by environment for deployments behind TLS.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", SECURE_HSTS_SECONDS > 0)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.projects.authentication.ProjectApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.projects.authentication.HasProjectApiKey"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON with a size cap and a nesting limit: a 10,000-deep body is a 400, not a RecursionError.
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "apps.core.api.ApiAutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Sightline API",
    "DESCRIPTION": "Ingest LLM traces and read quality telemetry. Authenticate with `Authorization: Bearer <project API key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Air-gapped: Swagger UI comes from drf-spectacular-sidecar's static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "SpanKindEnum": "apps.traces.models.SpanKind.values",
        "SpanStatusEnum": "apps.traces.models.Status.values",
        "EvaluatorKindEnum": "apps.evaluators.models.Evaluator.Kind",
        "ReviewRuleKindEnum": "apps.review.models.RoutingRule.Kind",
        "MetricDirectionEnum": "apps.scores.api.metrics.DIRECTION_VALUES",
    },
}

# Celery: Redis as broker; no result backend, job state lives in PostgreSQL rows.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 120)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 180)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A down broker must not hang the request path: enqueueing gives up fast (ingest sweeps later).
# A send that cannot connect fails within 1 s (no publish retries); after that the per-process breaker in
# apps/core/queue.py skips sends for BROKER_BREAKER_SECONDS, so an outage costs one request ~1 s, not each.
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    "socket_connect_timeout": 1,
    "socket_timeout": 5,
    "max_retries": 1,
}
CELERY_TASK_PUBLISH_RETRY = False
BROKER_BREAKER_SECONDS = env_int("BROKER_BREAKER_SECONDS", 10)

# Row-claimed jobs (apps/core/jobs.py). A claim older than its task's hard time limit belongs to a dead
# worker and is taken over, so these limits bound how long a killed worker delays its row.
INGEST_BATCH_TIME_LIMIT = env_int("INGEST_BATCH_TIME_LIMIT", 45)
INGEST_BATCH_MAX_ATTEMPTS = env_int("INGEST_BATCH_MAX_ATTEMPTS", 5)
JUDGE_TASK_TIME_LIMIT = env_int("JUDGE_TASK_TIME_LIMIT", 60)
JUDGE_MAX_ATTEMPTS = env_int("JUDGE_MAX_ATTEMPTS", 8)
BACKFILL_TASK_TIME_LIMIT = env_int("BACKFILL_TASK_TIME_LIMIT", 60)
BACKFILL_MAX_ATTEMPTS = env_int("BACKFILL_MAX_ATTEMPTS", 5)
# Offline runs (apps/datasets): each job scores a chunk of items; a judge outage retries it with backoff.
OFFLINE_RUN_TASK_TIME_LIMIT = env_int("OFFLINE_RUN_TASK_TIME_LIMIT", 120)
OFFLINE_RUN_MAX_ATTEMPTS = env_int("OFFLINE_RUN_MAX_ATTEMPTS", 8)
JUDGE_PREVIEW_TIME_LIMIT = env_int("JUDGE_PREVIEW_TIME_LIMIT", 120)  # "Try it": up to 3 judge calls in one job
# Calibration (apps/judges/calibration.py): one run grades at most this many labeled traces, within this time.
JUDGE_CALIBRATION_MAX_ITEMS = env_int("JUDGE_CALIBRATION_MAX_ITEMS", 500)
JUDGE_CALIBRATION_TIME_LIMIT = env_int("JUDGE_CALIBRATION_TIME_LIMIT", 1800)
# A version's baseline agreement is frozen once it has this many random-sample verdicts; the judge-regression
# alert needs as many in its window.
JUDGE_BASELINE_MIN_LABELS = env_int("JUDGE_BASELINE_MIN_LABELS", 20)
# A shadow version's calibration run also grades this many live traces the current version judged in the last
# day, to compare the two versions on live traffic (0: off; each one is a paid judge call).
JUDGE_SHADOW_LIVE_SAMPLE = env_int("JUDGE_SHADOW_LIVE_SAMPLE", 0)
CELERY_TIMEZONE = "UTC"

# Ingestion limits (OTLP recommends 64 MiB decompressed).
OTLP_MAX_BODY_BYTES = env_int("OTLP_MAX_BODY_BYTES", 16 * 1024 * 1024)
OTLP_MAX_DECOMPRESSED_BYTES = env_int("OTLP_MAX_DECOMPRESSED_BYTES", 64 * 1024 * 1024)
INGEST_MAX_SPANS_PER_REQUEST = env_int("INGEST_MAX_SPANS_PER_REQUEST", 10_000)
INGEST_MAX_VALUE_CHARS = env_int("INGEST_MAX_VALUE_CHARS", 32_000)
INGEST_MAX_TRACES_PER_REQUEST = env_int("INGEST_MAX_TRACES_PER_REQUEST", 1_000)
# An ingest transaction that waits longer than this on a lock, or runs a statement longer, answers 503.
INGEST_LOCK_TIMEOUT_MS = env_int("INGEST_LOCK_TIMEOUT_MS", 2_000)
INGEST_STATEMENT_TIMEOUT_MS = env_int("INGEST_STATEMENT_TIMEOUT_MS", 10_000)
# The trigram GIN indexes' pending list is merged into the index by the insert that overflows it: capped this low
# (kB) in the ingest transaction, the merge is small and frequent instead of a 4 MB one landing on one request.
INGEST_GIN_PENDING_LIST_KB = env_int("INGEST_GIN_PENDING_LIST_KB", 512)
DATA_UPLOAD_MAX_MEMORY_SIZE = OTLP_MAX_BODY_BYTES
# Post-ingest work, by dotted path, called with (project_id=, trace_pks=) once per accepted batch.
# Higher apps subscribe here so that traces never imports them.
INGEST_BATCH_CONSUMERS = [
    "apps.traces.services.pending_evaluations_resolve",
    "apps.scores.rollups.rollups_dirty_mark",  # first: the batch's minutes are dirty even if a later one fails
    "apps.scores.services.scores_dimensions_refresh",
    "apps.scores.services.scores_from_span_evaluations",
    "apps.feedback.services.feedback_link_batch",
    "apps.evaluators.services.evaluations_run",
    "apps.feedback.services.feedback_infer_batch_enqueue",
    # The review queue's random sample needs no score; score-based rules run as scores are written.
    "apps.review.services.review_route_batch",
    # Statistics for the partitions being written, throttled (autovacuum may be off): last, it never delays the rest.
    "apps.core.partitions.partitions_analyze_due",
]
# Evaluation results from /v1/logs that name a trace, called with (project=, evaluations=[LogEvaluation]) inside
# the ingest transaction: scores stores them, and traces never imports scores.
LOG_EVALUATION_CONSUMERS = ["apps.scores.services.log_evaluations_ingest"]
# Implicit feedback inferred from sessions (apps/feedback/inference): how soon a later turn must come for the
# earlier answer to count as regenerated or rephrased, and how long a silence after an answer is abandonment.
FEEDBACK_REGENERATE_WINDOW_SECONDS = env_int("FEEDBACK_REGENERATE_WINDOW_SECONDS", 600)
FEEDBACK_REPHRASE_WINDOW_SECONDS = env_int("FEEDBACK_REPHRASE_WINDOW_SECONDS", 300)
FEEDBACK_ABANDON_WINDOW_SECONDS = env_int("FEEDBACK_ABANDON_WINDOW_SECONDS", 1800)
# Rephrase similarity: the project's active judge of this name embeds messages (its model is an embeddings
# model); without one, or when it fails, the lexical reading decides. Cosine threshold in percent.
FEEDBACK_EMBEDDINGS_JUDGE = env("FEEDBACK_EMBEDDINGS_JUDGE", "embeddings").strip()
FEEDBACK_REPHRASE_EMBEDDING_THRESHOLD_PCT = env_int("FEEDBACK_REPHRASE_EMBEDDING_THRESHOLD_PCT", 75)
# Called with (project_id=) for the project's embedder or None; judges owns the OpenAI client, feedback never
# imports it.
FEEDBACK_EMBEDDER_PROVIDER = "apps.judges.services.judge_embedder_for_project"
# An evaluation naming only gen_ai.response.id waits this long for the span with that id, then is rejected.
INGEST_EVALUATION_GRACE_SECONDS = env_int("INGEST_EVALUATION_GRACE_SECONDS", 600)
# Log content (/v1/logs) whose span never arrived is pruned after this long (its span is then taken as lost).
INGEST_PENDING_CONTENT_GRACE_SECONDS = env_int("INGEST_PENDING_CONTENT_GRACE_SECONDS", 86_400)
# Bookkeeping rows that are finished (done/discarded ingest batches and judge requests, rejected evaluation
# events) are pruned after this many days; failed ones stay for the dead-letters page until discarded.
BOOKKEEPING_RETENTION_DAYS = env_int("BOOKKEEPING_RETENTION_DAYS", 7)
# Rollups (minute, hour and day metric buckets) are kept this long (13 months), whatever the raw-row retention.
ROLLUP_RETENTION_DAYS = env_int("ROLLUP_RETENTION_DAYS", 396)
# The rollup drain (beat, every 15 s) takes at most this many dirty keys per transaction, and stops after this
# many seconds (the next run goes on).
ROLLUP_DRAIN_BATCH = 2000
ROLLUP_DRAIN_BUDGET = 10.0
# Session summaries (apps/scores/sessions.py): dirty sessions recomputed per transaction, and seconds per drain run.
SESSION_SUMMARY_DRAIN_BATCH = env_int("SESSION_SUMMARY_DRAIN_BATCH", 1000)
SESSION_SUMMARY_DRAIN_BUDGET = 10.0
# Traces, spans and scores are partitioned by UTC day; the hourly job keeps this many days of partitions ahead.
# Every partition is planned by each statement that cannot prune by partition_at when planned (lookups by row id),
# so empty days ahead cost planning time on every ingest batch: 2 days is 47 hourly runs of slack before a gap.
PARTITION_DAYS_AHEAD = env_int("PARTITION_DAYS_AHEAD", 2)
# Creating, attaching or dropping a partition waits at most this long for its locks (then the next run retries).
PARTITION_LOCK_TIMEOUT_MS = env_int("PARTITION_LOCK_TIMEOUT_MS", 5000)
# Today's and tomorrow's partitions are ANALYZEd (beat, every minute) when never analyzed, or when this many rows,
# and this fraction of the rows they had at their last ANALYZE, changed since: with autovacuum off (or behind),
# a new day has no statistics and `id = ANY(…)` lookups plan a scan of the whole day.
PARTITION_ANALYZE_MIN_ROWS = env_int("PARTITION_ANALYZE_MIN_ROWS", 2000)
PARTITION_ANALYZE_FRACTION_PCT = env_int("PARTITION_ANALYZE_FRACTION_PCT", 20)
# …checked by the beat job every minute, and by the post-ingest consumer at most this often (all workers together).
PARTITION_ANALYZE_INTERVAL_S = env_int("PARTITION_ANALYZE_INTERVAL_S", 30)
# Retention jobs run by the hourly traces.data_lifecycle task, by dotted path (traces never imports scores).
RETENTION_EXPIRERS = [
    "apps.traces.services.traces_expire",
    "apps.scores.services.scores_expire",
    "apps.scores.sessions.session_summaries_expire",  # after traces: sessions whose traces are gone
]
# Retention deletes (for projects whose retention is shorter than another's) run this long per table and run.
RETENTION_DELETE_BUDGET_SECONDS = env_int("RETENTION_DELETE_BUDGET_SECONDS", 120)
# User regexes (regex/format checks, JSON-schema patterns) run on RE2 in linear time, over at most this many
# characters of the text (the rest is not searched). Length and word limits still see the whole answer.
EVALUATOR_REGEX_MAX_INPUT_CHARS = env_int("EVALUATOR_REGEX_MAX_INPUT_CHARS", 200_000)
# Called with (project=) when a project is created: higher apps give new projects their defaults.
PROJECT_CREATED_HOOKS = [
    "apps.evaluators.services.evaluators_default_create",
    "apps.review.services.review_defaults_create",
]
# Review queue: how long a reviewer's claim on an item lasts before the item returns to the queue.
REVIEW_CLAIM_SECONDS = env_int("REVIEW_CLAIM_SECONDS", 600)
# Bias-corrected pass rates (apps/scores/corrected.py): the labeled random sample that corrects a range is read over
# the range itself, widened to at least this many days ending at its end (a minute holds almost no labels).
PPI_LABEL_WINDOW_DAYS = env_int("PPI_LABEL_WINDOW_DAYS", 7)

# Feedback (POST /api/v1/feedback). Origins whose pages may post it from a browser (CORS), comma-separated, e.g.
# "https://app.example.com"; "*" (the default) lets any page post: the endpoint only takes writes authenticated by
# the bearer key the page sends (no cookies), and that write-only key is public in the page anyway.
FEEDBACK_ALLOWED_ORIGINS = env_list("FEEDBACK_ALLOWED_ORIGINS", "*")
# Feedback whose trace has not arrived after this long is listed on the project's "unlinked feedback" page.
FEEDBACK_UNLINKED_GRACE_SECONDS = env_int("FEEDBACK_UNLINKED_GRACE_SECONDS", 3600)
# The 15 s link sweep retries feedback received this recently; older rows still link when their trace is ingested.
FEEDBACK_LINK_WINDOW_SECONDS = env_int("FEEDBACK_LINK_WINDOW_SECONDS", 7 * 86_400)

# Judges (LLM-as-judge) reach any OpenAI-compatible endpoint.
JUDGE_BASE_URL = env("JUDGE_BASE_URL", "")
JUDGE_API_KEY = env_secret("JUDGE_API_KEY", "")
JUDGE_MODEL = env("JUDGE_MODEL", "")
JUDGE_SECRETS_KEY = env_secret("JUDGE_SECRETS_KEY", "")
# At most this many judge calls of one project run at once, across all workers.
JUDGE_MAX_CONCURRENCY_PER_PROJECT = env_int("JUDGE_MAX_CONCURRENCY_PER_PROJECT", 4)
# Judge hosts allowed although they resolve to a private/loopback address (e.g. "localhost,127.0.0.1"
# for vLLM or Ollama on this machine). Everything else must resolve to public addresses only.
JUDGE_ALLOWED_HOSTS = env_list("JUDGE_ALLOWED_HOSTS")

# Alerting (apps/slis). Webhook and Slack hosts allowed although they resolve to a private/loopback address
# (the tests list 127.0.0.1); everything else must be public. Links in notifications start with SITE_URL.
ALERT_ALLOWED_HOSTS = env_list("ALERT_ALLOWED_HOSTS")

# The live demo (apps/demo): `make run` simulates traffic for the demo project and starts the demo judge and
# webhook receiver on 127.0.0.1:SIGHTLINE_DEMO_PORT. SIGHTLINE_DEMO=0 turns all of it off.
SIGHTLINE_DEMO = env_bool("SIGHTLINE_DEMO", True)
DEMO_SERVER_PORT = env_int("SIGHTLINE_DEMO_PORT", 8765)
SITE_URL = env("SITE_URL", "http://localhost:8000").rstrip("/")
# Deliveries: attempts before a notification is failed, and the retry backoff (base doubling, capped) in seconds.
ALERT_DELIVERY_MAX_ATTEMPTS = env_int("ALERT_DELIVERY_MAX_ATTEMPTS", 6)
ALERT_DELIVERY_BACKOFF_SECONDS = env_int("ALERT_DELIVERY_BACKOFF_SECONDS", 5)
ALERT_DELIVERY_BACKOFF_CAP_SECONDS = env_int("ALERT_DELIVERY_BACKOFF_CAP_SECONDS", 600)
ALERT_DELIVERY_TIMEOUT_SECONDS = env_int("ALERT_DELIVERY_TIMEOUT_SECONDS", 10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "sightline@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
